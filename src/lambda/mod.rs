//! Lambda event filtering: FilterCriteria and the per-source record rules.
