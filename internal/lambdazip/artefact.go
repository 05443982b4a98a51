package lambdazip

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Bucket is the artefact bucket orderflow deploy uploads to when given
// none: one per account and region, since Lambda reads code only from a
// bucket in its own region.
func Bucket(account, region string) string {
	return fmt.Sprintf("orderflow-artifacts-%s-%s", account, region)
}

// Key is the object key of a zip in the artefact bucket: it carries the
// zip's digest, so a new build never overwrites one a stack still names,
// and the same build is uploaded once.
func Key(zip []byte) string {
	sum := sha256.Sum256(zip)
	return "orderflow/ProcessOrderFunction-" + hex.EncodeToString(sum[:])[:12] + ".zip"
}

// ErrNotZip is returned by Inspect for bytes that are not a zip archive.
var ErrNotZip = errors.New("not a zip archive")

// ErrNoBootstrap is returned by Inspect for a zip with no bootstrap file at
// its root: the provided runtimes start nothing else.
var ErrNoBootstrap = errors.New("no bootstrap file at the zip's root")

// maxBootstrap bounds what Inspect reads of a bootstrap: Lambda's limit on
// a function's unpacked code.
const maxBootstrap = 250 << 20

// Inspect checks that b is a deployment zip of the provided runtimes (a
// zip holding a file named bootstrap at its root) and returns the Go
// architecture its bootstrap is built for: "amd64" or "arm64" for an ELF
// executable of those machines, "" for anything else (a script, say).
func Inspect(b []byte) (arch string, err error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNotZip, err)
	}
	for _, f := range zr.File {
		if f.Name != "bootstrap" {
			continue
		}
		if f.FileInfo().IsDir() {
			return "", ErrNoBootstrap
		}
		if f.UncompressedSize64 > maxBootstrap {
			return "", fmt.Errorf("its bootstrap is %d bytes, more than Lambda's %d MiB for a function's code", f.UncompressedSize64, maxBootstrap>>20)
		}
		r, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("read its bootstrap: %w", err)
		}
		defer r.Close()
		exe, err := io.ReadAll(io.LimitReader(r, maxBootstrap+1))
		if err != nil {
			return "", fmt.Errorf("read its bootstrap: %w", err)
		}
		ef, err := elf.NewFile(bytes.NewReader(exe))
		if err != nil {
			return "", nil // not ELF: a script the runtime may still run
		}
		defer ef.Close()
		switch ef.Machine {
		case elf.EM_X86_64:
			return "amd64", nil
		case elf.EM_AARCH64:
			return "arm64", nil
		}
		return "", nil
	}
	return "", ErrNoBootstrap
}
