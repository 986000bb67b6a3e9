"""The CI eval gate: compare an eval run's results with committed minimum/maximum thresholds (evals/thresholds.json).

Thresholds file: {"readme": ..., "runs": [{"dataset": NAME, "items": N, "papers": P (optional), "configs":
{CONFIG: {"retrieval" | "answers/MODE": {METRIC: {"min": x} | {"max": x}}}}}]}. A run is matched by its dataset
name, item count and (when given) store size, so a --limit smoke run is never judged by a full run's thresholds.

    python -m evals.gate RESULTS.json [THRESHOLDS.json]     # re-check a saved run: a table; exit 1 on failures
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from paperbot.errors import ConfigError

THRESHOLDS = Path(__file__).resolve().parent / "thresholds.json"


def load_thresholds(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read thresholds file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"thresholds file {path} is not valid JSON: {exc}") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list):
        raise ConfigError(f"thresholds file {path}: expected {{\"runs\": [...]}}; see evals/gate.py")
    for number, run in enumerate(runs):
        where = f"{path}: runs[{number}]"
        if not isinstance(run, dict) or not isinstance(run.get("dataset"), str) or not isinstance(
                run.get("configs"), dict):
            raise ConfigError(f"{where} needs a \"dataset\" name and a \"configs\" object")
        for config, sections in run["configs"].items():
            for section, metrics in sections.items():
                if section != "retrieval" and not section.startswith("answers/"):
                    raise ConfigError(f"{where}.configs.{config}: unknown section {section!r} "
                                      "(use \"retrieval\" or \"answers/MODE\")")
                for metric, bound in metrics.items():
                    if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"} or not all(
                            isinstance(v, (int, float)) for v in bound.values()):
                        raise ConfigError(f"{where}.configs.{config}.{section}.{metric}: expected "
                                          "{\"min\": number} and/or {\"max\": number}")
    return runs


def _matches(run: dict, results: dict) -> bool:
    dataset = results.get("dataset", {})
    if run["dataset"] != dataset.get("name"):
        return False
    if "items" in run and run["items"] != dataset.get("items"):
        return False
    return "papers" not in run or any(s.get("papers") == run["papers"] for s in results.get("stores", []))


def _measured(results: dict, config: str, section: str, metric: str) -> tuple[float | None, str | None]:
    """(value, None), or (None, why it is missing)."""
    entry = results.get("configs", {}).get(config)
    if entry is None:
        return None, f"config {config!r} was not run"
    if section == "retrieval":
        values = entry.get("retrieval", {})
    else:
        mode = section.split("/", 1)[1]
        if mode not in entry.get("answers", {}):
            return None, f"answers in {mode} mode were not run for config {config!r}"
        values = entry["answers"][mode].get("metrics", {})
    if metric not in values:
        return None, "not in the results"
    if values[metric] is None:
        return None, "could not be computed (null)"
    return float(values[metric]), None


def check(results: dict, thresholds_path: Path) -> list[str]:
    """Every threshold the run misses, as "DATASET CONFIG SECTION METRIC = measured < min threshold"; [] = pass."""
    runs = load_thresholds(thresholds_path)
    dataset = results.get("dataset", {})
    matching = [run for run in runs if _matches(run, results)]
    if not matching:
        known = ", ".join(f"{r['dataset']} ({r.get('items', 'any')} items, {r.get('papers', 'any')} papers)"
                          for r in runs) or "none"
        papers = "/".join(str(s.get("papers")) for s in results.get("stores", [])) or "?"
        return [(f"{thresholds_path} has no thresholds for {dataset.get('name')!r} with {dataset.get('items')} "
                 f"items, {papers} papers (it has: {known}); run the set the thresholds were measured on, "
                 "or add them")]
    failures = []
    for run in matching:
        for config, sections in run["configs"].items():
            for section, metrics in sections.items():
                for metric, bound in metrics.items():
                    where = f"{run['dataset']} {config} {section} {metric}"
                    value, missing = _measured(results, config, section, metric)
                    if missing:
                        failures.append(f"{where}: {missing}; threshold {bound}")
                        continue
                    if "min" in bound and value < bound["min"]:
                        failures.append(f"{where} = {value:.4f} < min {bound['min']:.4f}")
                    if "max" in bound and value > bound["max"]:
                        failures.append(f"{where} = {value:.4f} > max {bound['max']:.4f}")
    return failures


def table(results: dict, thresholds_path: Path) -> list[str]:
    """Every threshold that applies to the run, one line each: metric, measured value, bound, ok or FAIL; so a
    passing gate shows what it passed, and by how much."""
    rows = []
    for run in (r for r in load_thresholds(thresholds_path) if _matches(r, results)):
        for config, sections in run["configs"].items():
            for section, metrics in sections.items():
                for metric, bound in metrics.items():
                    value, missing = _measured(results, config, section, metric)
                    limit = f"min {bound['min']:.4f}" if "min" in bound else f"max {bound['max']:.4f}"
                    ok = missing is None and bound.get("min", value) <= value <= bound.get("max", value)
                    rows.append((f"{run['dataset']} {config} {section} {metric}",
                                 f"{value:.4f}" if value is not None else "—", limit, "ok" if ok else "FAIL"))
    width = max([len("metric"), *(len(row[0]) for row in rows)])
    return [f"{name:<{width}} {value:>9}  {limit:<11} {verdict}"
            for name, value, limit, verdict in [("metric", "measured", "bound", "verdict"), *rows]]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    results = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    thresholds = Path(args[1]) if len(args) == 2 else THRESHOLDS
    failures = check(results, thresholds)
    for line in table(results, thresholds):
        print(line)
    for failure in failures:
        print(f"gate: {failure}", file=sys.stderr)
    if not failures:
        print(f"gate: {results['dataset']['name']} passes every threshold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
