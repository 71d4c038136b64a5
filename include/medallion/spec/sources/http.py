"""Source kind `http`: records of a REST/JSON API (operator: bronze/sources/http.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from medallion.spec.base import Identifier, StrictModel


class Pagination(StrictModel):
    """How an API splits its results; stops on a short page, an empty cursor or no next link."""

    type: Literal["page", "offset", "cursor", "next_link"]
    page_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    page_param: str = "page"
    size_param: str = "per_page"
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    cursor_path: str = Field("next_cursor", description="where the next cursor is in the JSON body")
    next_path: str | None = Field(None, description="where the next URL is in the body (default: Link header)")
    max_pages: Annotated[int, Field(ge=1)] = 10_000


class HttpSource(StrictModel):
    """Records from a REST/JSON API on an Airflow HTTP connection (auth lives in the connection)."""

    kind: Literal["http"]
    name: Identifier
    conn_id: str
    endpoint: str = Field(description="path under the connection's base URL; Jinja such as {{ ds }} is rendered")
    params: dict[str, str] = {}
    records_path: str = Field("", description="dotted path to the list of records in the body ('' = the body)")
    pagination: Pagination | None = None
    on_empty: Literal["fail", "warn", "allow"] = "fail"
