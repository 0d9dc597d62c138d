package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a server. The zero timeouts take the defaults below.
type Options struct {
	Dir     string // the published tree
	Addr    string // listen address; default 127.0.0.1:8080
	TLSCert string // PEM certificate; with TLSKey, serve HTTPS
	TLSKey  string
	Logger  *slog.Logger // access log and errors; nil discards

	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // default 30s
	WriteTimeout      time.Duration // default 10m (large payloads on slow links)
	IdleTimeout       time.Duration // default 60s
	ShutdownTimeout   time.Duration // default 10s

	// Ready, when set, is called with the address actually listened on
	// (useful with port 0) once the server accepts connections.
	Ready func(addr string)
}

// ListenAndServe serves opts.Dir until ctx is cancelled, then shuts down
// gracefully: it stops accepting connections and waits up to
// ShutdownTimeout for requests in flight, then closes the connections still
// open, so that nothing of the server outlives the call.
func ListenAndServe(ctx context.Context, opts Options) error {
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	h, err := NewHandler(opts.Dir, opts.Logger)
	if err != nil {
		return err
	}
	defer h.Close()
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, 5*time.Second),
		ReadTimeout:       orDefault(opts.ReadTimeout, 30*time.Second),
		WriteTimeout:      orDefault(opts.WriteTimeout, 10*time.Minute),
		IdleTimeout:       orDefault(opts.IdleTimeout, 60*time.Second),
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	// Plain HTTP goes through the fast path (wire.go), which hands what it
	// does not answer to srv; HTTPS is net/http's alone (and HTTP/2).
	var ws *wireServer
	if opts.TLSCert == "" {
		ws = &wireServer{
			h: h, fallback: srv, handoff: newHandoffListener(ln.Addr()),
			readHeaderTimeout: srv.ReadHeaderTimeout, idleTimeout: srv.IdleTimeout, writeTimeout: srv.WriteTimeout,
			conns: make(map[*wireConn]struct{}),
		}
	}
	done := make(chan error, 2)
	switch {
	case ws != nil:
		ws.wg.Add(1) // the accept loop, which shutdown waits for
		go func() { done <- ws.serve(ln) }()
		go func() { done <- srv.Serve(ws.handoff) }()
	default:
		go func() { done <- srv.ServeTLS(ln, opts.TLSCert, opts.TLSKey) }()
	}
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	select {
	case err := <-done:
		ln.Close()
		if ws != nil {
			sctx, cancel := context.WithTimeout(context.Background(), orDefault(opts.ShutdownTimeout, 10*time.Second))
			ws.shutdown(sctx)
			cancel()
			srv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), orDefault(opts.ShutdownTimeout, 10*time.Second))
	defer cancel()
	if ws != nil {
		ln.Close()
		if err := ws.shutdown(sctx); err != nil {
			srv.Close()
			return fmt.Errorf("serve: shutdown: %w", err)
		}
		for range 2 { // the accept loop and net/http's
			if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", err)
			}
		}
		return nil
	}
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still in flight after ShutdownTimeout (a client that
		// stopped reading a large payload) are cut off: nothing of the
		// server may outlive this function and the tree it closes.
		srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Handler serves one published tree. Create it with NewHandler.
type Handler struct {
	root  *os.Root
	top   *os.File // the tree's directory, for statTop; nil where unused
	topFD int      // its descriptor, taken once (File.Fd may make a system call)
	// noOpenat2: the kernel has no openat2 (statTop).
	noOpenat2 atomic.Bool
	log       *slog.Logger
	cache     contentCache // files up to maxCachedFile, by name and identity

	mu    sync.Mutex
	etags map[etagKey]string // content hashes of larger files, by identity
}

// etagKey identifies a file's content without reading it: a new file
// under the same name (a new timestamp.json renamed into place) differs in
// inode even when size and modification time are equal.
type etagKey struct {
	name string
	id   fileIdentity
}

// maxETags bounds the ETag cache; it is emptied when full.
const maxETags = 8192

// NewHandler opens dir as the root of the served tree. It refuses, with an
// *UnsafeTreeError naming the file, a directory that holds a publisher's
// workspace (workspace.json) or private keys (*.key files, files starting
// with a PEM private key header), at its top or below, within the first
// 20,000 entries: serving a workspace or its parent would publish the keys.
func NewHandler(dir string, logger *slog.Logger) (*Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("serve: %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := checkTree(dir, root); err != nil {
		root.Close()
		return nil, err
	}
	h := &Handler{root: root, log: logger, etags: make(map[etagKey]string)}
	if h.top = openTop(root); h.top != nil {
		h.topFD = int(h.top.Fd())
	}
	return h, nil
}

// Close releases the tree's directory handles.
func (h *Handler) Close() error {
	if h.top != nil {
		h.top.Close()
	}
	return h.root.Close()
}

// statusWriter records the status and size of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.log.Enabled(r.Context(), slog.LevelInfo) {
		h.serve(w, r) // no access log: nothing to record
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h.serve(sw, r)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", sw.status),
		slog.Int64("bytes", sw.n),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/healthz" {
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	}
	name, ok := cleanName(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	// The type is checked before the file is opened, and the open does not
	// block: opening a named pipe for reading would wait for a writer for
	// ever, holding the request and a thread. The name is resolved on every
	// request, in the tree, so a file that left it, became a link out of it
	// or stopped being a regular file is refused at once.
	fi, err := h.root.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		h.notFound(w, r, name, err)
		return
	}
	// A file read before, still the same file: its content, checked then,
	// is in memory.
	if e := h.cache.get(name, identityOf(fi)); e != nil {
		serveEntry(w, r, e)
		return
	}
	f, err := h.root.OpenFile(name, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		h.notFound(w, r, name, err)
		return
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r) // replaced between the two checks
		return
	}
	if fi.Size() <= maxCachedFile {
		e, err := loadEntry(name, f, fi)
		switch {
		case err == nil:
			if kind, ok := privateKeyPEM(e.body[:min(len(e.body), sniffLen)]); ok {
				h.refuseKey(w, r, name, kind)
				return
			}
			h.cache.put(name, e)
			serveEntry(w, r, e)
			return
		case !errors.Is(err, errChangedWhileRead):
			h.log.Warn("reading file", "path", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		// Written to while read: sent from the file, not kept.
	}
	if kind, ok := sniffPrivateKey(f); ok {
		h.refuseKey(w, r, name, kind)
		return
	}
	etag, err := h.etag(name, f, fi)
	if err != nil {
		h.log.Warn("hashing file", "path", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", CacheControl(name))
	hdr.Set("Content-Type", ContentType(name))
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// memEntry returns the entry in memory that answers for name: the one
// kept, while name still resolves in the tree to a regular file of the
// same identity, or one read now from a regular file of at most
// maxCachedFile bytes that is not a private key. It returns nil for
// everything else (missing, refused, larger, changed while read), which
// ServeHTTP answers, logging what it refuses. It is the fast path's
// look-up and makes the same checks as ServeHTTP, in the same order.
func (h *Handler) memEntry(name string) *entry {
	id, regular, known := h.statTop(name)
	if !known {
		fi, err := h.root.Stat(name)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		id, regular = identityOf(fi), true
	}
	if !regular {
		return nil
	}
	if e := h.cache.get(name, id); e != nil {
		return e
	}
	if id.size > maxCachedFile {
		return nil
	}
	f, err := h.root.OpenFile(name, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxCachedFile {
		return nil
	}
	e, err := loadEntry(name, f, fi)
	if err != nil {
		return nil
	}
	if _, ok := privateKeyPEM(e.body[:min(len(e.body), sniffLen)]); ok {
		return nil
	}
	h.cache.put(name, e)
	return e
}

func (h *Handler) refuseKey(w http.ResponseWriter, r *http.Request, name, kind string) {
	h.log.Warn("refused a private key", "path", name, "pem", kind)
	http.NotFound(w, r)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, name string, err error) {
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Escapes through links, permission problems: logged, never explained.
		h.log.Warn("refused", "path", name, "err", err)
	}
	http.NotFound(w, r)
}

// cleanName turns a URL path into a name inside the tree, refusing empty
// names, "." and ".." segments, dot-files, backslashes and NUL bytes.
func cleanName(p string) (string, bool) {
	p = strings.TrimPrefix(p, "/")
	if p == "" || strings.ContainsAny(p, "\\\x00") || strings.HasSuffix(p, "/") {
		return "", false
	}
	for rest, more := p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == "" || seg[0] == '.' {
			return "", false
		}
	}
	if path.Clean(p) != p {
		return "", false
	}
	return p, true
}

// etag returns the strong ETag of f: its SHA-256, cached by name and
// identity.
func (h *Handler) etag(name string, f *os.File, fi fs.FileInfo) (string, error) {
	k := etagKey{name, identityOf(fi)}
	h.mu.Lock()
	e, ok := h.etags[k]
	h.mu.Unlock()
	if ok {
		return e, nil
	}
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	e = `"` + hex.EncodeToString(d.Sum(nil)) + `"`
	h.mu.Lock()
	if len(h.etags) >= maxETags {
		clear(h.etags)
	}
	h.etags[k] = e
	h.mu.Unlock()
	return e, nil
}

// Immutable is the Cache-Control of files that never change once published.
const Immutable = "public, max-age=31536000, immutable"

// CacheControl says how long caches may keep name: versioned metadata
// ("7.snapshot.json") and hashed payloads never change; everything else
// (timestamp.json, root.json, unversioned names) must be revalidated.
func CacheControl(name string) string {
	base := path.Base(name)
	if strings.HasPrefix(name, "targets/") && strings.Contains(name, "/") {
		if h, _, ok := strings.Cut(base, "."); ok && isHex(h) && (len(h) == 64 || len(h) == 128) {
			return Immutable
		}
	}
	if v, rest, ok := strings.Cut(base, "."); ok && rest != "" && isDigits(v) && !strings.Contains(name, "/") {
		return Immutable
	}
	return "no-cache"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ContentType is the media type of a published file.
func ContentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".tar"):
		return "application/x-tar"
	default:
		return "application/octet-stream"
	}
}
