package journal

// SetSegmentBytes sets the size past which the log starts a new segment,
// returning a function that restores it.
func SetSegmentBytes(n int64) (restore func()) {
	old := segmentBytes
	segmentBytes = n
	return func() { segmentBytes = old }
}

// HoldApply pauses the applier (after the transaction it is in, if any)
// until release is called: logged groups then stay out of the file.
func (j *Journal) HoldApply() (release func()) {
	j.applyGate.Lock()
	return j.applyGate.Unlock
}

// BeforeWrite makes the committer call f before each log write. Set it
// before the first Append.
func (j *Journal) BeforeWrite(f func()) { j.beforeWrite = f }
