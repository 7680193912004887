"""Smoke test of a running install: backfill one old site-day through the webserver's
GraphQL API (the mutation the UI sends), wait for the daemon to finish it, print the
outcome. Exit status 0 only on COMPLETED_SUCCESS.

    python deploy/smoke_backfill.py http://127.0.0.1:3300 acme_hq 40
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

LAUNCH = """mutation L($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query S($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
ASSETS = ("ace_points", "ace_raw_samples", "cold_timeseries")


def graphql(url: str, query: str, variables: dict) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    answer.raise_for_status()
    body = answer.json()
    if "errors" in body:
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def main(url: str, site: str, days_ago: int, timeout_s: float = 600) -> int:
    day = (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()
    params = {
        "assetSelection": [{"path": [name]} for name in ASSETS],
        "partitionNames": [f"{day}|{site}"],
        "fromFailure": False,
    }
    launched = graphql(url, LAUNCH, {"p": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        print(f"not launched: {launched}")
        return 1
    backfill_id, began = launched["backfillId"], time.monotonic()
    status = "REQUESTED"
    while time.monotonic() - began < timeout_s:
        status = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(2)
    print(f"backfill {backfill_id} of {site} {day}: {status} in {time.monotonic() - began:.0f} s")
    return 0 if status == "COMPLETED_SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
