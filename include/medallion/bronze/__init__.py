"""Bronze: land source extracts in S3 as parquet partitions committed by a manifest."""
