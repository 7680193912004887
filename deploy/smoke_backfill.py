"""Smoke test of a running install: one old site-day backfilled through GraphQL.

The mutation is the one the UI sends; the daemon runs the backfill; the outcome is
printed. Exit status 0 only on COMPLETED_SUCCESS.

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
ADD_SITE = """mutation A($site: String!, $repo: RepositorySelector!) {
  addDynamicPartition(partitionsDefName: "site", partitionKey: $site, repositorySelector: $repo) {
  __typename } }"""
REPO = {"repositoryName": "__repository__", "repositoryLocationName": "vitals"}
ASSETS = ("ace_points", "ace_raw_samples", "cold_timeseries")


def graphql(url: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    """POST one GraphQL operation; GraphQL-level errors end the script with their text."""
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    answer.raise_for_status()
    body = answer.json()
    if "errors" in body:
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def main(url: str, site: str, days_ago: int, timeout_s: float = 600) -> int:
    """Launch the backfill, poll its status every 2 s, return the exit status."""
    day = (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()
    params = {
        "assetSelection": [{"path": [name]} for name in ASSETS],
        "partitionNames": [f"{day}|{site}"],
        "fromFailure": False,
    }
    # The site as a partition (the discovery sensor adds ACE's sites too; a second add is
    # answered DuplicateDynamicPartitionError, which is fine here).
    graphql(url, ADD_SITE, {"site": site, "repo": REPO})
    launched: dict = graphql(url, LAUNCH, {"p": params})["launchPartitionBackfill"]  # type: ignore[assignment]
    if launched["__typename"] != "LaunchBackfillSuccess":
        print(f"not launched: {launched}")
        return 1
    backfill_id, began = launched["backfillId"], time.monotonic()
    status = "REQUESTED"
    while time.monotonic() - began < timeout_s:
        answer: dict = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]  # type: ignore[assignment]
        status = answer["status"]
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(2)
    print(f"backfill {backfill_id} of {site} {day}: {status} in {time.monotonic() - began:.0f} s")
    return 0 if status == "COMPLETED_SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
