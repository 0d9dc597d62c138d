package repo

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/internal/gzpool"
)

// Mode bits of a tar header that installing drops.
const (
	cISUID = 0o4000
	cISGID = 0o2000
	cISVTX = 0o1000
)

// Archive kinds, the extension of the target path.
const (
	extTar   = ".tar"
	extTarGz = ".tar.gz"
)

// checkArchive reads a payload through and returns its kind. It accepts a
// tar or gzip-compressed tar with at least one entry, whose entry names
// (and link targets) are relative, clean of "..", and whose entries are
// regular files, directories or links; it checks the gzip checksum. The
// error is a *PayloadError.
func checkArchive(name string, data []byte) (string, error) {
	kind := extTar
	var src io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		gz, err := gzpool.Get(src)
		if err != nil {
			return "", &PayloadError{Path: name, Reason: "bad gzip header: " + err.Error()}
		}
		defer gzpool.Put(gz)
		gz.Multistream(false)
		kind, src = extTarGz, gz
	}
	tr := tar.NewReader(src)
	entries := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", &PayloadError{Path: name, Reason: "not a well-formed tar archive: " + err.Error()}
		}
		if err := checkEntry(h); err != nil {
			return "", &PayloadError{Path: name, Entry: h.Name, Reason: err.Error()}
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return "", &PayloadError{Path: name, Entry: h.Name, Reason: "truncated: " + err.Error()}
		}
		entries++
	}
	if entries == 0 {
		return "", &PayloadError{Path: name, Reason: "empty archive (no entries)"}
	}
	if kind == extTarGz {
		if _, err := io.Copy(io.Discard, src); err != nil {
			return "", &PayloadError{Path: name, Reason: "gzip stream: " + err.Error()}
		}
	}
	return kind, nil
}

// checkDeviceRules refuses a payload that devices would refuse to install:
// it runs the installer's own validation (duplicate paths, entries below a
// link or a file, links that resolve outside the version directory, entry
// and expanded-size limits, so a gzip bomb stops at the limit).
func checkDeviceRules(name string, data []byte) error {
	_, err := install.ValidateArchive(bytes.NewReader(data), install.Limits{})
	var ae *install.ArchiveError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		reason := string(ae.Problem)
		if ae.Err != nil {
			reason += ": " + ae.Err.Error()
		}
		return &PayloadError{Path: name, Entry: ae.Entry, Reason: reason + " (devices refuse it)"}
	default:
		return &PayloadError{Path: name, Reason: err.Error()}
	}
}

// checkEntry refuses entry names that could escape the directory the
// archive is extracted into, and special files.
func checkEntry(h *tar.Header) error {
	if err := safeName(h.Name); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	default:
		return fmt.Errorf("entry type %q is not allowed (only files, directories and links)", h.Typeflag)
	}
	if m := h.Mode & (cISUID | cISGID | cISVTX); m != 0 {
		return fmt.Errorf("mode %#o has setuid, setgid or sticky bits (devices would drop them)", h.Mode)
	}
	if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
		target := h.Linkname
		if h.Typeflag == tar.TypeSymlink && !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(strings.TrimSuffix(h.Name, "/")), target)
		}
		if err := safeName(target); err != nil {
			return fmt.Errorf("link target %q: %v", h.Linkname, err)
		}
	}
	return nil
}

func safeName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute path")
	case strings.Contains(name, "\\"):
		return errors.New("backslash in name")
	case strings.ContainsRune(name, 0):
		return errors.New("NUL in name")
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if seg == ".." {
			return errors.New("path traversal (..)")
		}
	}
	return nil
}
