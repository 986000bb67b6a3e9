"""English stopwords dropped from lexical queries: they match nearly every abstract and only add noise."""

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before being below
    between both but by can cannot could couldn d did didn do does doesn doing don down during each few for from
    further had hadn has hasn have haven having he her here hers herself him himself his how however i if in into
    is isn it its itself let ll m me more most mustn my myself no nor not of off on once only or other ought our
    ours ourselves out over own paper papers re s same shan she should shouldn so some such t than that the their
    theirs them themselves then there these they this those through to too under until up use used using ve very
    via was wasn we were weren what when where which while who whom why with won would wouldn you your yours
    yourself yourselves
    """.split()
)
