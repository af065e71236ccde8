"""Online scoring: churn probabilities and top reasons for given customers, right now.

    from retention_assets.serving import predict
    predict(["C0000001", "C0000042"])          # a DataFrame, one row per customer

    retention score C0000001 C0000042           # the same, in words (--json: JSON lines)
    retention serve --port 8080                 # GET /score?customer_id=C0000001&customer_id=C0000042

Serving reads the published release (`<data dir>/generations/release.json`): its champion version is
loaded from the MLflow registry and its features are read from that release's Feast online store
through the feature service of that version, so a run that failed, or one still running, never
changes what is served. A long-running scorer follows a new release at its next request. The scores
go through the same function as the `churn_scores` asset, so both agree to the last bit for the same
customers and as-of time. The endpoints come from the settings file and the profile
(`RETENTION_SETTINGS`, `RETENTION_PROFILE`), as for the asset graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

from retention_assets.core.columns import FEATURE_TIMESTAMP, INACTIVE_TIER, MODEL_VERSION, PROBABILITY, REASONS, RISK_TIER
from retention_assets.model.serving import ServingError, ServingModel, load_champion, score_online
from retention_assets.profiles import build_profile
from retention_assets.publication.generations import Release, ReleaseError, read_release, require_release
from retention_assets.settings import Settings, current_settings


@dataclass
class Scorer:
    """The published champion and its online store, loaded once and reused across requests until a new
    release is published."""

    settings: Settings
    serving: ServingModel
    release: Release
    profile: str | None = None

    @classmethod
    def load(cls, settings: Settings | None = None, profile: str | None = None) -> "Scorer":
        settings = settings or current_settings()
        try:
            release = require_release(settings.data_path)
        except ReleaseError as exc:
            raise ServingError(str(exc)) from exc
        services = build_profile(settings, profile)
        return cls(settings, load_champion(services.tracking(), release.model_version), release, profile)

    def _follow_release(self) -> None:
        current = read_release(self.settings.data_path)
        if current is not None and current.generation != self.release.generation:
            fresh = Scorer.load(self.settings, self.profile)
            self.serving, self.release = fresh.serving, fresh.release

    def predict(self, customer_ids: list[str]) -> pd.DataFrame:
        """One row per distinct customer, in the order asked."""
        self._follow_release()
        key = self.settings.entity.entity_key
        ids = list(dict.fromkeys(str(i) for i in customer_ids))
        scores = score_online(self.release.feast_config(), self.serving, key, ids,
                              self.settings.model.risk_tier_bounds)
        return scores.set_index(key).loc[ids].reset_index()


def predict(customer_ids: list[str], settings: Settings | None = None, profile: str | None = None) -> pd.DataFrame:
    """Probability, risk tier, top reasons, feature timestamp and model version per customer."""
    return Scorer.load(settings, profile).predict(customer_ids)


def records(scores: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (timestamps as ISO strings; the reasons as a list of records)."""
    return json.loads(scores.to_json(orient="records", date_format="iso", double_precision=15))


def readable(scores: pd.DataFrame, key: str) -> str:
    """The scores for people: one line per customer, then its reasons, one per line."""
    blocks = []
    for row in scores.to_dict(orient="records"):
        at = pd.Timestamp(row[FEATURE_TIMESTAMP]).strftime("%Y-%m-%d %H:%M UTC")
        tier = "inactive at the as-of time" if row[RISK_TIER] == INACTIVE_TIER else f"{row[RISK_TIER]} risk"
        head = (f"{row[key]}: churn probability {row[PROBABILITY]:.2f}, {tier} "
                f"(model version {row[MODEL_VERSION]}, features as of {at})")
        lines = [head]
        reasons = list(row[REASONS])
        lines += [f"  {i}. {reason['text']}" for i, reason in enumerate(reasons, 1)] or \
            ["  no reasons: only active customers are explained" if row[RISK_TIER] == INACTIVE_TIER
             else "  nothing pushes this customer towards churn"]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def serve(port: int, settings: Settings | None = None, profile: str | None = None,
          host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A small HTTP endpoint: GET /score?customer_id=...&customer_id=... answers JSON records.

    Returns the server (call `serve_forever()`); unknown customers get 404 with their ids.
    """
    scorer = Scorer.load(settings, profile)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            if url.path != "/score":
                return self._send(404, {"error": "use GET /score?customer_id=..."})
            ids = parse_qs(url.query).get("customer_id", [])
            if not ids:
                return self._send(400, {"error": "pass one or more customer_id query parameters"})
            try:
                return self._send(200, records(scorer.predict(ids)))
            except ServingError as exc:
                return self._send(404, {"error": str(exc)})

        def log_message(self, format: str, *args) -> None:  # keep test output quiet
            return

    return ThreadingHTTPServer((host, port), Handler)
