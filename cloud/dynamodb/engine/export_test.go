package engine

// TTLSweeps returns how many sweeps have run, for tests that wait for one.
func (e *Engine) TTLSweeps() uint64 { return e.ttlSweeps.Load() }

// TTLVisited returns how many expiry index entries the sweeps have looked
// at, for tests of the sweep's cost.
func (e *Engine) TTLVisited() uint64 { return e.ttlVisited.Load() }
