package s3

import (
	"io"
	"strings"
	"testing"
)

// FuzzChunkedReader: any body decodes or fails with an error, without a
// panic, reading no more than the input holds.
func FuzzChunkedReader(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n")
	f.Add("5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n")
	f.Add("ffffffffffffffff\r\n")
	f.Add("0\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		c := newChunkedReader(strings.NewReader(in), nil, false)
		n, _ := io.Copy(io.Discard, io.LimitReader(c, int64(len(in))+1))
		if n > int64(len(in)) {
			t.Fatalf("decoded %d bytes out of %d", n, len(in))
		}
	})
}
