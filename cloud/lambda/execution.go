package lambda

import "path/filepath"

// Execution says how the host runs a function.
type Execution struct {
	// Zip is true when the function's bootstrap runs as child processes
	// speaking the Runtime API; false for an in-process Go handler.
	Zip bool
	// Emulation says how a zip function's architecture is run, in the
	// words of its REPORT lines' Emulation field: "" when natively as
	// declared. A build for this machine that runs here in place of the
	// declared architecture says so too.
	Emulation string
	// Emulator is the name of the program that emulates the function's
	// architecture (qemu-aarch64-static, say); "" when it runs natively.
	Emulator string
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
	x := Execution{Zip: true, Emulation: fn.proc.emulated}
	if len(fn.proc.argv) > 1 {
		x.Emulator = filepath.Base(fn.proc.argv[0])
	}
	return x, true
}
