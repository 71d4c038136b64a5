"""Started twice at once by test_two_pytest_sessions_at_once: the local services on this session's ports."""

import boto3

from medallion.local import services
from medallion.settings import load_settings


def test_local_services_start_on_this_sessions_ports():
    state = services.start_background()
    try:
        conn = load_settings().connection("aws_lake")
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{state['s3_port']}",
            region_name="us-east-1",
            aws_access_key_id=conn["login"],
            aws_secret_access_key=conn["password"],
        )
        s3.put_object(Bucket=state["bucket"], Key="probe", Body=b"ok")
        assert s3.get_object(Bucket=state["bucket"], Key="probe")["Body"].read() == b"ok"
    finally:
        services.stop_background()
