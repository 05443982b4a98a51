package reliability

// SetDLQVisibility sets how long the checker hides the DLQ messages it
// reads, in seconds, and returns a function that restores it.
func SetDLQVisibility(seconds int32) (restore func()) {
	old := dlqVisibility
	dlqVisibility = seconds
	return func() { dlqVisibility = old }
}
