// Package slowtest marks the tests that `make check` (go test -short)
// leaves to `make test`: the ones that take seconds, start child
// processes, drive clients we did not write or fill a real disk. Each
// says why it is skipped, so a skip is never silent.
package slowtest

import "testing"

// Skip skips t under go test -short, saying why (what makes the test
// slow) and that make test runs it.
func Skip(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip(Reason(why))
	}
}

// Reason is the skip message for a test slow because of why.
func Reason(why string) string {
	return "slow: " + why + "; make test runs it"
}
