package lambda

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultMaxUnpackedBytes is Lambda's limit on a function's unzipped code.
const DefaultMaxUnpackedBytes = 250 << 20

// maxZipEntries bounds the files a zip may hold, so that a zip of empty
// entries cannot exhaust inodes.
const maxZipEntries = 20000

// ErrBadArtefact marks a zip the host refuses to run; the error says why.
var ErrBadArtefact = errors.New("lambda: bad function artefact")

func badArtefact(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArtefact, fmt.Sprintf(format, args...))
}

// unpack extracts the zip into dir (which exists and is empty), refusing
// what Lambda would not run or what could escape dir: absolute paths, ..
// components, symbolic links, more than limit bytes unpacked. It then
// checks that dir holds an executable regular file named bootstrap.
func unpack(data []byte, dir string, limit int64) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return badArtefact("the code is not a zip file (%v): package the function with zip, bootstrap at its root", err)
	}
	if len(zr.File) > maxZipEntries {
		return badArtefact("the zip holds %d files, more than %d", len(zr.File), maxZipEntries)
	}
	var total int64
	for _, f := range zr.File {
		name := f.Name
		if strings.Contains(name, `\`) {
			return badArtefact("the zip entry %q has a backslash in its path: zip it on Linux or macOS, or with forward slashes", name)
		}
		if strings.HasPrefix(name, "/") || filepath.IsAbs(name) || (len(name) > 1 && name[1] == ':') {
			return badArtefact("the zip entry %q has an absolute path", name)
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return badArtefact("the zip entry %q climbs out of the function's directory (..)", name)
			}
		}
		clean := path.Clean(name)
		if clean == "." {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		mode := f.Mode()
		switch {
		case mode&os.ModeSymlink != 0:
			return badArtefact("the zip entry %q is a symbolic link, which the host does not unpack: put the file itself in the zip", name)
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("lambda: unpack %s: %w", name, err)
			}
			continue
		case !mode.IsRegular():
			return badArtefact("the zip entry %q is not a regular file (%v)", name, mode.Type())
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("lambda: unpack %s: %w", name, err)
		}
		n, err := extract(f, target, limit-total)
		total += n
		if total > limit {
			return badArtefact("the zip unpacks to more than %d MiB, the limit for a function's code: make the function smaller", limit>>20)
		}
		if err != nil {
			return err
		}
	}
	st, err := os.Lstat(filepath.Join(dir, "bootstrap"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return badArtefact("the zip has no bootstrap at its root: a provided.al2023 function's zip must hold its executable named bootstrap (zip -j function.zip bootstrap)")
	case err != nil:
		return fmt.Errorf("lambda: unpack: %w", err)
	case !st.Mode().IsRegular():
		return badArtefact("the zip's bootstrap is not a regular file")
	case st.Mode().Perm()&0o100 == 0:
		return badArtefact("the zip's bootstrap is not executable: chmod +x bootstrap before zipping it")
	}
	return nil
}

// extract writes one file, at most left+1 bytes of it, whatever its header
// claims, and returns how many it wrote: more than left means too many.
func extract(f *zip.File, target string, left int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, badArtefact("the zip entry %q cannot be read: %v", f.Name, err)
	}
	defer rc.Close()
	perm := os.FileMode(0o644)
	if f.Mode().Perm()&0o100 != 0 {
		perm = 0o755
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return 0, badArtefact("the zip holds %q twice", f.Name)
	}
	if err != nil {
		return 0, badArtefact("the zip entry %q cannot be written: %v", f.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil && n <= left {
		return n, badArtefact("the zip entry %q cannot be unpacked: %v", f.Name, err)
	}
	return n, nil
}
