// Command hygiene fails when git tracks what belongs outside it: a file
// over 1 MiB, or a compiled binary (ELF, Mach-O or PE), unless the file is
// listed in the allowlist with the reason it is there.
//
//	go run ./tools/hygiene            # from the repository root
//	go run ./tools/hygiene -C dir -allow .ci/hygiene-allow
//
// It reads what git has staged (the index), not the working tree, so a
// file deleted or rebuilt locally is judged as it would be committed.
//
// It is written in Go, not shell, so that it needs only git and the Go
// toolchain, reads magic numbers without od or xxd, and is tested with
// go test like the rest of the repository.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxSize is the largest file git may track without an allowlist entry.
const maxSize = 1 << 20

// headerSize is how much of each file is read to recognise a binary: enough
// for a PE file's DOS stub to point at its "PE\0\0" signature.
const headerSize = 4096

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hygiene:", err)
		os.Exit(1)
	}
}

// errFound is returned when a tracked file breaks a rule; the files have
// been reported on stdout by then.
var errFound = errors.New("tracked files that do not belong in git (listed above); " +
	"untrack them (git rm --cached, and a .gitignore entry), or list each in the allowlist with the reason")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hygiene", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("C", ".", "the repository to check")
	allowPath := fs.String("allow", ".ci/hygiene-allow", "the allowlist, relative to the repository; a missing file allows nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	allow, err := readAllowlist(filepath.Join(*dir, *allowPath))
	if err != nil {
		return err
	}
	files, err := trackedFiles(*dir)
	if err != nil {
		return err
	}
	problems := check(files, allow, *allowPath)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return errFound
	}
	return nil
}

// file is one tracked file as the index holds it.
type file struct {
	path   string
	size   int64
	header []byte // the first headerSize bytes, or all of a smaller file
}

// check returns one line per broken rule, in path order.
func check(files []file, allow map[string]bool, allowPath string) []string {
	var problems []string
	tracked := make(map[string]bool, len(files))
	for _, f := range files {
		tracked[f.path] = true
		if allow[f.path] {
			continue
		}
		if f.size > maxSize {
			problems = append(problems, fmt.Sprintf("%s: %d bytes (%.1f MiB), over the 1 MiB limit", f.path, f.size, float64(f.size)/(1<<20)))
		}
		if kind := binaryKind(f.header); kind != "" {
			problems = append(problems, fmt.Sprintf("%s: a compiled binary (%s)", f.path, kind))
		}
	}
	// An entry for a file git no longer tracks would let its return pass unseen.
	for _, p := range slices.Sorted(maps.Keys(allow)) {
		if !tracked[p] {
			problems = append(problems, fmt.Sprintf("%s: %s names %s, which git does not track; remove the entry", allowPath, p, p))
		}
	}
	return problems
}

// binaryKind names the executable format h starts with, or returns "".
func binaryKind(h []byte) string {
	if len(h) < 4 {
		return ""
	}
	switch m := binary.BigEndian.Uint32(h); m {
	case 0x7f454c46: // "\x7fELF"
		return "ELF"
	case 0xfeedface, 0xcefaedfe, 0xfeedfacf, 0xcffaedfe:
		return "Mach-O"
	case 0xcafebabe:
		// A Java class file shares this magic; there the next word is its
		// version (45 and up), here the number of architectures.
		if len(h) >= 8 && binary.BigEndian.Uint32(h[4:]) < 32 {
			return "Mach-O universal"
		}
	}
	// A PE file starts with a DOS header ("MZ") whose word at 0x3c is the
	// offset of "PE\0\0"; "MZ" alone is too common a start for text.
	if len(h) >= 0x40 && h[0] == 'M' && h[1] == 'Z' {
		off := int64(binary.LittleEndian.Uint32(h[0x3c:]))
		if off+4 <= int64(len(h)) && bytes.Equal(h[off:off+4], []byte("PE\x00\x00")) {
			return "PE"
		}
	}
	return ""
}

// readAllowlist reads one path per line; "#" starts a comment, and every
// entry must carry one saying why the file is in git.
func readAllowlist(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("allowlist: %w", err)
	}
	allow := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		entry, reason, _ := strings.Cut(line, "#")
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("allowlist %s:%d: %s has no reason; add one after a #", path, i+1, entry)
		}
		allow[entry] = true
	}
	return allow, nil
}

// trackedFiles returns every regular file and symlink in dir's index with
// its size and first bytes, read from git's object store.
func trackedFiles(dir string) ([]file, error) {
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--stage").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w%s", err, stderrOf(err))
	}
	var files []file
	var oids []string
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		// "<mode> <object> <stage>\t<path>"
		meta, path, ok := strings.Cut(rec, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-files: unexpected record %q", rec)
		}
		if fields[0] == "160000" { // a submodule: a commit, not a file
			continue
		}
		if fields[2] != "0" && fields[2] != "2" { // during a merge, judge our side once
			continue
		}
		files = append(files, file{path: path})
		oids = append(oids, fields[1])
	}
	if len(files) == 0 {
		return nil, nil
	}
	if err := readObjects(dir, oids, files); err != nil {
		return nil, err
	}
	return files, nil
}

// readObjects fills in the size and header of files[i] from object oids[i],
// streaming every object once through one git cat-file.
func readObjects(dir string, oids []string, files []file) error {
	cmd := exec.Command("git", "-C", dir, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(oids, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	readErr := func() error {
		for i := range files {
			// "<object> <type> <size>\n<contents>\n"
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("object %s: %w", oids[i], err)
			}
			fields := strings.Fields(line)
			if len(fields) != 3 {
				return fmt.Errorf("object %s: %s", oids[i], strings.TrimSpace(line))
			}
			size, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				return fmt.Errorf("object %s: size %q: %w", oids[i], fields[2], err)
			}
			h := make([]byte, min(size, headerSize))
			if _, err := io.ReadFull(r, h); err != nil {
				return fmt.Errorf("object %s: %w", oids[i], err)
			}
			if _, err := r.Discard(int(size-int64(len(h))) + 1); err != nil {
				return fmt.Errorf("object %s: %w", oids[i], err)
			}
			files[i].size, files[i].header = size, h
		}
		return nil
	}()
	if readErr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("git cat-file: %w%s", readErr, strings.TrimSpace(" "+stderr.String()))
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git cat-file: %w %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
