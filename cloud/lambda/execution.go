package lambda

// Execution says how the host runs a function.
type Execution struct {
	// Zip is true when the function's bootstrap runs as child processes
	// speaking the Runtime API; false for an in-process Go handler.
	Zip bool
	// Emulation says how a zip function's architecture is run, in the
	// words of its REPORT lines' Emulation field: "" when natively.
	Emulation string
}

// Execution says how the host runs the function name; false when there is
// no such function.
func (h *Host) Execution(name string) (Execution, bool) {
	h.mu.Lock()
	fn := h.functions[functionName(name)]
	h.mu.Unlock()
	if fn == nil {
		return Execution{}, false
	}
	if fn.proc == nil {
		return Execution{}, true
	}
	return Execution{Zip: true, Emulation: fn.proc.emulated}, true
}
