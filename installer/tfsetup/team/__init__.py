"""Teams and fleets: project config, one lock for a mixed fleet, wheelhouse, fleet report."""
