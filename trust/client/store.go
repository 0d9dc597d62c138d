package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// recordFile is the verified-state record in the metadata directory. It
// is not a .json file, so that the directory holds role files only.
const recordFile = ".verified-state"

// fileName returns the name under which role's metadata is stored:
// top-level roles as "root.json" etc.; other names percent-encode every
// byte outside [A-Za-z0-9_-], and a leading ".", so that no role name
// can leave the directory or collide with another.
func fileName(role string) string {
	return escapeName(role, false) + ".json"
}

// escapeName percent-encodes s. For URLs (url true) every byte except
// the unreserved ones of RFC 3986 is encoded, like Python's
// urllib.parse.quote(s, safe=""). For file names "." and "~" are encoded
// too when they could make a special name.
func escapeName(s string, url bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case (c == '.' || c == '~') && (url || i > 0):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// escapePath percent-encodes each "/"-separated segment of a target path
// for a URL, keeping the separators.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = escapeName(s, true)
	}
	return strings.Join(segs, "/")
}

// store is the metadata directory: the exact bytes of every verified role
// file, written atomically, and the verified-state record.
type store struct {
	dir string
}

func (s store) read(role string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, fileName(role)))
}

func (s store) write(role string, data []byte) error {
	return atomicfile.WriteFile(filepath.Join(s.dir, fileName(role)), data, 0o644)
}

func (s store) remove(role string) error {
	if err := fault.CheckPath("client.store.remove", filepath.Join(s.dir, fileName(role))); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.dir, fileName(role)))
	fault.Point("client.store.remove.done")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// namedData is a file of a batch: its name in the directory and content,
// or the temporary file in the directory that holds the content already
// (written, not yet synced) and its SHA-256; moved, when set, is told the
// file's path once it is renamed.
type namedData struct {
	name  string
	data  []byte
	temp  string
	sum   [32]byte
	moved func(path string)
}

// writeBatch replaces each file in dir as writeAtomic does, but syncs the
// temporary files in parallel (the file system commits them together)
// and the directory once, after every rename. A crash leaves each file
// old or new, never a mix; a failure before the renames leaves all old.
func writeBatch(dir string, files []namedData, perm fs.FileMode) error {
	if len(files) == 1 && files[0].temp == "" {
		return atomicfile.WriteFile(filepath.Join(dir, files[0].name), files[0].data, perm)
	}
	temps := make([]string, len(files))
	errs := make([]error, len(files))
	// A few workers: more syncs at once gain nothing, and a device
	// writing 256 hash bins need not hold 256 buffers.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(files), batchWorkers) {
		wg.Go(func() {
			var buf []byte // for syncFile, made on a worker's first temp file
			for i := range next {
				f := files[i]
				if f.temp != "" {
					if buf == nil {
						buf = make([]byte, 16<<10)
					}
					temps[i], errs[i] = f.temp, syncFile(f.temp, f.sum, buf)
				} else {
					temps[i], errs[i] = writeTemp(dir, f.name, f.data, perm, true)
				}
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, t := range temps {
			if t != "" {
				os.Remove(t)
			}
		}
		return err
	}
	for i, f := range files {
		fault.Point("client.store.batch.rename")
		if err := os.Rename(temps[i], filepath.Join(dir, f.name)); err != nil {
			for _, t := range temps[i:] {
				os.Remove(t)
			}
			return err
		}
		if f.moved != nil {
			f.moved(filepath.Join(dir, f.name))
		}
	}
	return atomicfile.SyncDir(dir)
}

// onlyReader hides a file's WriteTo, so that io.CopyBuffer uses the
// buffer it is given.
type onlyReader struct{ io.Reader }

// batchWorkers is how many files of a batch are written and synced at
// once.
const batchWorkers = 8

// syncFile checks that the file at path still hashes to sum (what was
// verified and written there), reading it through buf, and syncs it to
// disk.
func syncFile(path string, sum [32]byte, buf []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err = io.CopyBuffer(h, onlyReader{f}, buf); err == nil && [32]byte(h.Sum(nil)) != sum {
		err = fmt.Errorf("%w: %s", errStoredChanged, filepath.Base(path))
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = fault.CheckPath("client.store.batch.fsync", path)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeTemp writes data to a temporary file for name in dir, synced when
// sync is set, and returns its path.
func writeTemp(dir, name string, data []byte, perm fs.FileMode, sync bool) (string, error) {
	if err := fault.CheckPath("client.store.batch.create", filepath.Join(dir, name)); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fault.CheckPath("client.store.batch.write", f.Name())
	}
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
		if err == nil {
			err = fault.CheckPath("client.store.batch.fsync", f.Name())
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// record is the verified-state record: for each targets-family file
// (snapshot included) that the client verified in full, the SHA-256 of
// its stored bytes, its version and expiry, and the SHA-256 of the file
// whose keys verified it (root.json for snapshot and targets, the
// delegator for delegated roles). A later run trusts a stored file
// without decoding or verifying it again only when its bytes still hash
// to the record, the chain it just verified lists that version (and
// those hashes), and the signer file is unchanged; expiry is checked
// against the reference time every time.
type record struct {
	Initialized time.Time               `json:"initialized,omitzero"`
	Files       map[string]*recordEntry `json:"files"`
	// Check is the SHA-256 of the record encoded with Check empty, so
	// that a record damaged on disk (an expiry changed, say) is not
	// trusted: the client then verifies everything in full.
	Check string `json:"check,omitempty"`
}

type recordEntry struct {
	SHA256  string    `json:"sha256"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
	Signer  string    `json:"signer"` // role whose keys verified it
	// SignerSHA256 is the SHA-256 of the signer's file at the time.
	SignerSHA256 string `json:"signer_sha256"`
	// Index is the SHA-256 of the file's look-up index (index.go), if
	// it has one.
	Index string `json:"index,omitempty"`
}

// readRecord returns the record, or an empty one when it is missing or
// unreadable (the client then verifies everything in full).
func (s store) readRecord() *record {
	r := &record{}
	data, err := os.ReadFile(filepath.Join(s.dir, recordFile))
	if err != nil || json.Unmarshal(data, r) != nil || r.Files == nil {
		return &record{Files: map[string]*recordEntry{}}
	}
	check := r.Check
	if want, err := recordCheck(r); err != nil || check != want {
		return &record{Files: map[string]*recordEntry{}}
	}
	return r
}

// recordCheck returns the SHA-256 of r encoded with Check empty (the
// encoding is deterministic: struct fields in order, map keys sorted).
func recordCheck(r *record) (string, error) {
	c := *r
	c.Check = ""
	body, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// encodeRecord returns r as stored, with its check.
func encodeRecord(r *record) ([]byte, error) {
	check, err := recordCheck(r)
	if err != nil {
		return nil, err
	}
	c := *r
	c.Check = check
	return json.Marshal(&c)
}

func (s store) writeRecord(r *record) error {
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, recordFile), data, 0o644)
}
