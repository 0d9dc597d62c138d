package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func tarBytes(entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gzBytes(b []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(b)
	gz.Close()
	return buf.Bytes()
}

func reg(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 3, Mode: 0o644}
}

func TestCheckArchive(t *testing.T) {
	good := tarBytes(&tar.Header{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755}, reg("lib/a.so"),
		&tar.Header{Name: "lib/b.so", Typeflag: tar.TypeSymlink, Linkname: "a.so"})
	truncatedGz := gzBytes(good)
	truncatedGz = truncatedGz[:len(truncatedGz)-6]
	tests := []struct {
		name string
		data []byte
		kind string // "" means refused
	}{
		{"tar", good, extTar},
		{"tar.gz", gzBytes(good), extTarGz},
		{"empty tar", tarBytes(), ""},
		{"empty file", nil, ""},
		{"not an archive", []byte("hello world, this is not a tar archive of any kind"), ""},
		{"gzip of text", gzBytes([]byte("plain text")), ""},
		{"truncated gzip", truncatedGz, ""},
		{"dot-dot", tarBytes(reg("../x")), ""},
		{"inner dot-dot", tarBytes(reg("a/../../x")), ""},
		{"absolute", tarBytes(reg("/etc/passwd")), ""},
		{"symlink out", tarBytes(&tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "../x"}), ""},
		{"absolute symlink", tarBytes(&tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}), ""},
		{"hard link out", tarBytes(&tar.Header{Name: "a", Typeflag: tar.TypeLink, Linkname: "../../x"}), ""},
		{"device", tarBytes(&tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}), ""},
		{"fifo", tarBytes(&tar.Header{Name: "p", Typeflag: tar.TypeFifo}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, err := checkArchive(tt.name, tt.data)
			var pe *PayloadError
			switch {
			case tt.kind == "" && !errors.As(err, &pe):
				t.Fatalf("accepted (%q, %v)", kind, err)
			case tt.kind != "" && (err != nil || kind != tt.kind):
				t.Fatalf("got %q, %v; want %q", kind, err, tt.kind)
			}
		})
	}
}

// FuzzCheckArchive: never panics; whatever it accepts re-reads the same.
func FuzzCheckArchive(f *testing.F) {
	good := tarBytes(reg("a"), reg("b/c"))
	f.Add(good)
	f.Add(gzBytes(good))
	f.Add(tarBytes(reg("../x")))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, err := checkArchive("fuzz", data)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		again, err := checkArchive("fuzz", data)
		if err != nil || again != kind {
			t.Fatalf("second read: %q %v", again, err)
		}
	})
}
