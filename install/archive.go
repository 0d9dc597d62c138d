package install

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/bsiframework/bsi/internal/gzpool"
)

// Default limits, used for every zero (or negative) field of Limits.
const (
	DefaultMaxEntries   = 10_000
	DefaultMaxFileSize  = 256 << 20 // 256 MiB per entry
	DefaultMaxTotalSize = 1 << 30   // 1 GiB expanded
)

// headerAllowance is how many bytes of the decompressed stream each entry
// may spend on headers (tar blocks, PAX records, GNU long names) on top of
// its content. It bounds a stream of huge headers with tiny entries.
const headerAllowance = 8 << 10

// Limits bounds what an archive may expand to. A zero field means its
// default; a caller that knows the payload's expected expanded size (from
// the manifest) should lower MaxTotalSize to it.
type Limits struct {
	MaxEntries   int   // default 10_000
	MaxFileSize  int64 // default 256 MiB per entry
	MaxTotalSize int64 // default 1 GiB expanded (zip-bomb guard)
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	return l
}

// EntryType is the kind of an archive entry. Only these four are accepted.
type EntryType uint8

const (
	File     EntryType = iota + 1 // regular file
	Dir                           // directory
	Symlink                       // symbolic link staying inside the version directory
	Hardlink                      // hard link to an earlier regular file of the archive
)

func (t EntryType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Hardlink:
		return "hardlink"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one validated archive entry, as it will be written.
type Entry struct {
	Name     string      // clean slash-separated path relative to the version directory
	Type     EntryType   // File, Dir, Symlink or Hardlink
	Mode     fs.FileMode // 0644 or 0755 (directories and executables); 0777 for symlinks
	Size     int64       // content length of a File, else 0
	Linkname string      // Symlink: target as written; Hardlink: clean name of the linked file
}

// Problem says why an archive was refused. The set is closed: every
// *ArchiveError carries one of the constants below.
type Problem string

const (
	ProblemMalformed    Problem = "not a valid tar or tar.gz archive"
	ProblemTruncated    Problem = "archive is truncated"
	ProblemEmpty        Problem = "archive has no entries"
	ProblemAbsolute     Problem = "absolute path"
	ProblemDotDot       Problem = `path contains ".."`
	ProblemBadName      Problem = "name is not a clean relative path"
	ProblemNotUTF8      Problem = "name is not valid UTF-8"
	ProblemNUL          Problem = "name contains NUL"
	ProblemSpecialFile  Problem = "device, fifo or other unsupported entry type"
	ProblemDuplicate    Problem = "duplicate path"
	ProblemParent       Problem = "parent is a link or a file, not a directory"
	ProblemLinkEscapes  Problem = "symbolic link leaves the version directory"
	ProblemTooDeep      Problem = "names and link targets have too many path parts in total"
	ProblemHardlink     Problem = "hard link target is not an earlier regular file"
	ProblemFileTooLarge Problem = "entry is larger than the per-entry limit"
	ProblemTooMany      Problem = "too many entries"
	ProblemTooLarge     Problem = "expanded size is over the limit"
	ProblemChanged      Problem = "archive changed between validation and extraction"
)

// ArchiveError reports a refused archive: which entry (empty when the
// problem is the archive as a whole) and what is wrong with it. Nothing has
// been written when ValidateArchive or Install returns one. Callers that
// classify errors should treat it as a security failure.
type ArchiveError struct {
	Entry   string  // the entry's name as found in the archive, or ""
	Problem Problem // what is wrong
	Err     error   // underlying reader error, if any
}

func (e *ArchiveError) Error() string {
	var b strings.Builder
	b.WriteString("archive")
	if e.Entry != "" {
		fmt.Fprintf(&b, " entry %q", e.Entry)
	}
	b.WriteString(": ")
	b.WriteString(string(e.Problem))
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ArchiveError) Unwrap() error { return e.Err }

// ValidateArchive reads a tar or tar.gz archive (gzip is detected by its
// magic bytes) to the end and checks every entry against lim before
// anything is written: names must be clean relative UTF-8 paths without
// "..", NUL, or a parent that is a link or file; only regular files,
// directories, symbolic links that resolve inside the version directory
// and hard links to earlier regular files are accepted; no path may occur
// twice; sizes, entry count and expanded total must be within lim. It
// returns the entries in archive order, or an *ArchiveError.
func ValidateArchive(r io.Reader, lim Limits) ([]Entry, error) {
	lim = lim.withDefaults()
	tr, drain, release, err := openArchive(r, lim)
	if err != nil {
		return nil, err
	}
	defer release()
	c := newChecker(lim)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError("", err)
		}
		e, skip, err := c.add(hdr)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		if e.Type == File {
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return nil, readError(hdr.Name, err)
			}
		}
	}
	if err := drain(); err != nil {
		return nil, err
	}
	return c.finish()
}

// openArchive returns a tar reader over r, decompressing gzip when r starts
// with its magic, a drain function that reads what follows the end of the
// tar stream (so that gzip checks its trailer), and a release function to
// call once the archive is no longer read. The decompressed stream is
// capped at the expanded-size limit plus a header allowance per entry.
func openArchive(r io.Reader, lim Limits) (tr *tar.Reader, drain func() error, release func(), err error) {
	// Always a reader of the pool's, never the caller's: bufio.NewReader
	// would return r itself when it is a large enough *bufio.Reader, and
	// putting that in the pool would hand the caller's reader to another
	// archive.
	br, _ := bufReaders.Get().(*bufio.Reader)
	if br == nil {
		br = new(bufio.Reader)
	}
	br.Reset(r)
	var src io.Reader = br
	release = func() { bufReaders.Put(br) }
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzpool.Get(br)
		if err != nil {
			return nil, nil, nil, readError("", err)
		}
		src, release = zr, func() { gzpool.Put(zr); bufReaders.Put(br) }
	}
	capped := &cappedReader{r: src, n: lim.MaxTotalSize + int64(lim.MaxEntries+2)*headerAllowance}
	drain = func() error {
		if _, err := io.Copy(io.Discard, capped); err != nil {
			return readError("", err)
		}
		return nil
	}
	return tar.NewReader(capped), drain, release, nil
}

// bufReaders keeps the 4 KiB buffered readers beneath the archives'
// readers between archives (gzip readers are kept by gzpool).
var bufReaders sync.Pool

// errOverCap is returned by cappedReader once its budget is spent.
var errOverCap = errors.New("decompressed stream over the limit")

type cappedReader struct {
	r io.Reader
	n int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		// Tell a stream that ends exactly here from one that goes on.
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, errOverCap
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// readError classifies an error from the gzip or tar reader.
func readError(entry string, err error) error {
	var ae *ArchiveError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, errOverCap):
		return &ArchiveError{Entry: entry, Problem: ProblemTooLarge}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ArchiveError{Entry: entry, Problem: ProblemTruncated, Err: err}
	default:
		return &ArchiveError{Entry: entry, Problem: ProblemMalformed, Err: err}
	}
}
