package lambdazip

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestTheArtefactsPlaceIsNamedByAccountRegionAndDigest(t *testing.T) {
	if got, want := Bucket("123456789012", "eu-west-1"), "orderflow-artifacts-123456789012-eu-west-1"; got != want {
		t.Errorf("Bucket = %q, want %q", got, want)
	}
	a, _ := Bytes([]byte("one build"))
	b, _ := Bytes([]byte("another build"))
	if got, want := Key(a), "orderflow/ProcessOrderFunction-"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ".zip") || len(got) != len(want)+12+4 {
		t.Errorf("Key = %q, want %s + 12 hex digits + .zip", got, want)
	}
	if Key(a) != Key(append([]byte(nil), a...)) || Key(a) == Key(b) {
		t.Errorf("Key(a) = %s, Key(b) = %s: want the same key for the same bytes and another for others", Key(a), Key(b))
	}
}

func TestInspectChecksTheZipAndReadsItsBootstrapsArchitecture(t *testing.T) {
	exe, err := os.ReadFile(os.Args[0]) // this test binary: an ELF for this machine
	if err != nil {
		t.Fatal(err)
	}
	native, err := Bytes(exe)
	if err != nil {
		t.Fatal(err)
	}
	script, _ := Bytes([]byte("#!/bin/sh\necho hi\n"))
	for _, tc := range []struct {
		name     string
		zip      []byte
		wantArch string
		wantErr  error
	}{
		{"a zip of this machine's executable", native, runtime.GOARCH, nil},
		{"a zip of a script", script, "", nil},
		{"not a zip at all", []byte("PK? no, a text file"), "", ErrNotZip},
		{"an empty file", nil, "", ErrNotZip},
		{"a zip without bootstrap", zipOf(t, "main", false), "", ErrNoBootstrap},
		{"a zip with bootstrap in a folder", zipOf(t, "bin/bootstrap", false), "", ErrNoBootstrap},
		{"a zip whose bootstrap is a directory", zipOf(t, "bootstrap/", true), "", ErrNoBootstrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arch, err := Inspect(tc.zip)
			if arch != tc.wantArch || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Inspect = %q, %v; want %q, %v", arch, err, tc.wantArch, tc.wantErr)
			}
		})
	}
}

func zipOf(t *testing.T, name string, dir bool) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	hdr := &zip.FileHeader{Name: name}
	if dir {
		hdr.SetMode(os.ModeDir | 0o755)
	}
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if !dir {
		w.Write([]byte("#!/bin/sh\n"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
