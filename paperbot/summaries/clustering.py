"""Group paper vectors into themes: Ward agglomerative clustering, the number of themes chosen by silhouette."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Rousseeuw 1987) from a square distance matrix; singletons count 0."""
    values = []
    clusters = {label: labels == label for label in np.unique(labels)}
    for i, label in enumerate(labels):
        same = clusters[label].copy()
        same[i] = False
        if not same.any():
            values.append(0.0)
            continue
        a = distances[i, same].mean()
        b = min(distances[i, mask].mean() for other, mask in clusters.items() if other != label)
        values.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(values))


def max_themes(n: int) -> int:
    """About sqrt(n) themes at most: a digest of 100 papers reads well in ~10 themes, not 30."""
    return max(2, round(math.sqrt(n)))


def cluster(vectors: np.ndarray, *, min_themes: int = 2, max_k: int | None = None) -> list[list[int]]:
    """Row indices grouped into themes, largest first, each group in its rows' order, every row in exactly one.

    Ward linkage on unit vectors (Euclidean there is monotone in cosine), cut at the k in
    [min_themes, max_themes(n)] with the best cosine silhouette, so the number of themes comes from the data.
    Three papers or fewer make one theme: a silhouette over so few points says nothing.
    """
    n = len(vectors)
    if n == 0:
        return []
    if n <= 3:
        return [list(range(n))]
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    tree = linkage(unit, method="ward")
    distances = squareform(pdist(unit, "cosine"))
    upper = min(n - 1, max_k or max_themes(n))
    best: tuple[float, np.ndarray] | None = None
    for k in range(min(min_themes, upper), upper + 1):
        labels = fcluster(tree, k, criterion="maxclust")
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette(distances, labels)
        if best is None or score > best[0] + 1e-9:  # ties keep fewer themes
            best = (score, labels)
    if best is None:
        return [list(range(n))]
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(best[1]):
        groups.setdefault(int(label), []).append(row)
    return sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))


def by_centrality(vectors: np.ndarray, rows: Sequence[int]) -> list[int]:
    """`rows` ordered from the one closest to their centroid: the most typical paper of a theme first."""
    if len(rows) <= 1:
        return list(rows)
    block = vectors[list(rows)]
    centroid = block.mean(axis=0)
    similarity = block @ (centroid / (np.linalg.norm(centroid) or 1.0))
    return [rows[i] for i in sorted(range(len(rows)), key=lambda i: (-similarity[i], i))]
