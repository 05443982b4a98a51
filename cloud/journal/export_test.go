package journal

import (
	"encoding/binary"
	"hash/crc32"
)

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

// FrameSpans returns where each frame of a log segment (its bytes) starts
// and ends, a seal included, up to the first that cannot be read.
func FrameSpans(data []byte) [][2]int64 {
	var out [][2]int64
	size := int64(len(data))
	for p := int64(len(segmentMagic)); ; {
		p = headerAt(p)
		if p+headerBytes > size {
			return out
		}
		length := int64(binary.BigEndian.Uint32(data[p:]))
		end := p + headerBytes + length
		if length == 0 || end > size {
			return out
		}
		out = append(out, [2]int64{p, end})
		p = end
	}
}

// SectorBytes is the unit a disk writes whole or not at all.
const SectorBytes = sectorBytes

// LegacyFrame encodes a frame as an orderflow before the segment magic
// wrote it.
func LegacyFrame(seq uint64, ops ...Op) []byte {
	e := &Encoder{b: make([]byte, 8)}
	e.Uint(seq)
	e.Uint(uint64(len(ops)))
	for _, o := range ops {
		o.encode(e)
	}
	payload := e.b[8:]
	binary.BigEndian.PutUint32(e.b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(e.b[4:8], crc32.Checksum(payload, castagnoli))
	return e.b
}

// NextGroupBlocked reports whether a Wait is blocked on the group
// gathering now, waiting for its turn to lead.
func (j *Journal) NextGroupBlocked() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cur != nil && j.cur.lead != nil
}

// Gathers counts the times a leader waited gatherDelay for more requests.
func (j *Journal) Gathers() int64 { return j.gathers.Load() }
