// Package lambdazip packages a Lambda bootstrap binary as a deployment zip:
// one entry named bootstrap, executable, with a fixed modification time, so
// that the same binary always gives the same zip (and the same CodeSha256).
// It is written in Go so that packaging needs nothing beyond the Go
// toolchain (no zip program on the machine); tools/lambdazip (make zip) and
// orderflow deploy both use it.
package lambdazip

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"time"
)

// epoch is the modification time of every entry: zip cannot store earlier
// than 1980, and a fixed time keeps the output reproducible.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes the zip of the bootstrap binary read from bootstrap to w.
func Write(w io.Writer, bootstrap io.Reader) error {
	zw := zip.NewWriter(w)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: epoch}
	hdr.SetMode(0o755)
	entry, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(entry, bootstrap); err != nil {
		return fmt.Errorf("write the zip: %w", err)
	}
	return zw.Close()
}

// Bytes returns the zip of a bootstrap binary.
func Bytes(bootstrap []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, bytes.NewReader(bootstrap)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
