package devicecli

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/trust/client"
)

// progressMinDownload is the smallest download that gets a progress bar.
const progressMinDownload = 1 << 20

// StderrTerminal reports whether w, where progress bars go (a command's
// stderr), is a terminal under any escaping writer. A buffer (tests) or a
// pipe or file is not.
func StderrTerminal(w io.Writer) bool {
	f, ok := rawWriter(w).(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// WithClientProgress makes opts draw a progress bar on e.stderr for each
// payload download over 1 MiB when bar.Terminal is set (commands set it to
// StderrTerminal(e.Stderr)), and wraps the logger so that a log line first erases
// the bar. Without it opts are left as they are: no bar, trust/client's own
// HTTP client.
func WithClientProgress(e *Env, opts *agent.Options, bar progress.Options) {
	if !bar.Terminal {
		return
	}
	// trust/client's own transport: its request bounds (opts.Network)
	// apply to whatever transport it is given.
	t := &progressTransport{next: client.NewTransport(), w: rawWriter(e.Stderr), opts: bar}
	opts.HTTPClient = &http.Client{Transport: t}
	if opts.Logger != nil {
		opts.Logger = slog.New(progress.Handler(opts.Logger.Handler(), t))
	}
}

// progressTransport counts the bodies of large responses into a bar. It
// changes nothing of what is read: length limits and hashes stay
// trust/client's.
type progressTransport struct {
	next http.RoundTripper
	w    io.Writer
	opts progress.Options

	mu  sync.Mutex
	bar *progress.Bar // the bar on screen, if any
}

func (t *progressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	if n := resp.ContentLength; n >= 0 && n < progressMinDownload {
		return resp, nil
	}
	// Of unknown length (chunked): a bar once 1 MiB has come.
	resp.Body = &progressBody{ReadCloser: resp.Body, t: t, name: downloadName(req.URL.Path), total: max(resp.ContentLength, 0)}
	return resp, nil
}

// start puts up a new bar.
func (t *progressTransport) start(name string, total int64) *progress.Bar {
	bar := progress.New(t.w, "downloading "+Printable(name), total, t.opts)
	t.mu.Lock()
	t.bar = bar
	t.mu.Unlock()
	return bar
}

// Clear erases the current bar, for log lines.
func (t *progressTransport) Clear() {
	t.mu.Lock()
	bar := t.bar
	t.mu.Unlock()
	if bar != nil {
		bar.Clear()
	}
}

// downloadName is the name people know a payload by: the last path
// segment without its consistent-snapshot hash prefix.
func downloadName(p string) string {
	name := path.Base(p)
	if h, rest, ok := strings.Cut(name, "."); ok && (len(h) == 64 || len(h) == 128) && strings.Trim(h, "0123456789abcdef") == "" {
		return rest
	}
	return name
}

// progressBody counts a response body into a bar, started at the first
// read for a known length over 1 MiB, or once 1 MiB has been read.
type progressBody struct {
	io.ReadCloser
	t     *progressTransport
	name  string
	total int64 // 0: unknown
	read  int64
	bar   *progress.Bar
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if b.bar == nil && (b.total > 0 || b.read >= progressMinDownload) {
		b.bar = b.t.start(b.name, b.total)
		b.bar.Add(b.read, 0)
	} else if b.bar != nil {
		b.bar.Add(int64(n), 0)
	}
	if err == io.EOF && b.bar != nil {
		b.bar.Done()
	}
	return n, err
}

func (b *progressBody) Close() error {
	if b.bar != nil {
		b.bar.Done()
	}
	return b.ReadCloser.Close()
}
