package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/bsiframework/bsi/internal/atomicfile"
)

// Server is a witness: an http.Handler for POST /add-checkpoint (and GET
// /healthz). It is safe for concurrent use; requests for one log are
// serialised so that checking the old size and storing the new checkpoint
// are one step.
type Server struct {
	signer note.Signer
	logs   map[string]note.Verifier // origin → the log's key
	dir    string
	logger *slog.Logger

	mu sync.Mutex // guards the state files
}

// Config configures a Server.
type Config struct {
	// Signer cosigns; a *Cosigner makes timestamped cosignature/v1.
	Signer note.Signer
	// Logs are the vkeys of the logs this witness follows; each key's name
	// is the log origin.
	Logs []string
	// StateDir holds the latest cosigned checkpoint of each log.
	StateDir string
	// Logger may be nil.
	Logger *slog.Logger
}

// NewServer returns a witness. The state directory is created if needed.
func NewServer(c Config) (*Server, error) {
	if c.Signer == nil {
		return nil, errors.New("witness: no signer")
	}
	if len(c.Logs) == 0 {
		return nil, errors.New("witness: no log to follow")
	}
	s := &Server{signer: c.Signer, logs: map[string]note.Verifier{}, dir: c.StateDir, logger: c.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	for _, k := range c.Logs {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("witness: log key %q: %w", k, err)
		}
		if _, dup := s.logs[v.Name()]; dup {
			return nil, fmt.Errorf("witness: two keys for log %q", v.Name())
		}
		s.logs[v.Name()] = v
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: state directory: %w", err)
	}
	return s, nil
}

// ServeHTTP routes /add-checkpoint and /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/add-checkpoint":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		s.addCheckpoint(w, r)
	case "/healthz":
		io.WriteString(w, "ok\n")
	default:
		http.NotFound(w, r)
	}
}

// statusError is an HTTP answer other than 200.
type statusError struct {
	code int
	msg  string
}

func (s *Server) addCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		http.Error(w, "request body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	sig, conflict, serr := s.add(body)
	switch {
	case conflict >= 0:
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict)
	case serr != nil:
		s.logger.Warn("add-checkpoint refused", "status", serr.code, "reason", serr.msg)
		http.Error(w, serr.msg, serr.code)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(sig)
	}
}

// add runs one add-checkpoint request: it returns the signature line on
// success, the stored size (≥ 0) on a conflict of old sizes, or the
// status to answer. conflict is -1 when there is none.
func (s *Server) add(body []byte) (sigLine []byte, conflict int64, _ *statusError) {
	req, err := ParseAddCheckpoint(body)
	if err != nil {
		return nil, -1, &statusError{http.StatusBadRequest, err.Error()}
	}
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	v, ok := s.logs[string(origin)]
	if !ok {
		return nil, -1, &statusError{http.StatusNotFound, fmt.Sprintf("unknown log %q", origin)}
	}
	n, err := note.Open(req.Checkpoint, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, -1, &statusError{http.StatusForbidden, "no valid signature by the log's key: " + err.Error()}
		}
		return nil, -1, &statusError{http.StatusBadRequest, "checkpoint note: " + err.Error()}
	}
	var cp log.Checkpoint
	if rest, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, -1, &statusError{http.StatusBadRequest, "checkpoint: " + err.Error()}
	} else if len(rest) != 0 {
		return nil, -1, &statusError{http.StatusBadRequest, "checkpoint has extension lines"}
	}
	if req.OldSize > cp.Size {
		return nil, -1, &statusError{http.StatusBadRequest, fmt.Sprintf("old size %d is above the checkpoint size %d", req.OldSize, cp.Size)}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.load(cp.Origin)
	if err != nil {
		return nil, -1, &statusError{http.StatusInternalServerError, err.Error()}
	}
	if req.OldSize != stored.Size {
		return nil, int64(stored.Size), nil
	}
	switch {
	case req.OldSize == cp.Size:
		if req.OldSize > 0 && !bytes.Equal(stored.Hash, cp.Hash) {
			return nil, -1, &statusError{http.StatusConflict, fmt.Sprintf("size %d with another root hash than the one cosigned (a fork)", cp.Size)}
		}
		if len(req.Proof) != 0 {
			return nil, -1, &statusError{http.StatusUnprocessableEntity, "a proof between equal sizes must be empty"}
		}
	case req.OldSize == 0:
		if len(req.Proof) != 0 {
			return nil, -1, &statusError{http.StatusUnprocessableEntity, "the proof from size 0 must be empty"}
		}
	default:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, req.OldSize, cp.Size, req.Proof, stored.Hash, cp.Hash); err != nil {
			return nil, -1, &statusError{http.StatusUnprocessableEntity, fmt.Sprintf("consistency from %d to %d: %v", req.OldSize, cp.Size, err)}
		}
	}
	if err := s.store(cp.Origin, []byte(n.Text)); err != nil {
		return nil, -1, &statusError{http.StatusInternalServerError, err.Error()}
	}
	sig, err := s.signer.Sign([]byte(n.Text))
	if err != nil {
		return nil, -1, &statusError{http.StatusInternalServerError, err.Error()}
	}
	line := fmt.Appendf(nil, "— %s %s\n", s.signer.Name(),
		base64.StdEncoding.EncodeToString(append(binary.BigEndian.AppendUint32(nil, s.signer.KeyHash()), sig...)))
	s.logger.Info("cosigned", "log", cp.Origin, "size", cp.Size, "old", req.OldSize)
	return line, -1, nil
}

// stateFile names the state of one log: the hex SHA-256 of its origin.
func (s *Server) stateFile(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".checkpoint")
}

// load returns the latest cosigned checkpoint of origin (size 0 if none).
func (s *Server) load(origin string) (*log.Checkpoint, error) {
	data, err := os.ReadFile(s.stateFile(origin))
	if errors.Is(err, fs.ErrNotExist) {
		return &log.Checkpoint{Origin: origin}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness state of %s: %w", origin, err)
	}
	return ParseState(origin, data)
}

// ParseState reads a stored checkpoint body of origin.
func ParseState(origin string, data []byte) (*log.Checkpoint, error) {
	var cp log.Checkpoint
	rest, err := cp.Unmarshal(data)
	if err != nil || len(rest) != 0 || cp.Origin != origin {
		return nil, fmt.Errorf("witness state of %s is corrupt (%d bytes): %v", origin, len(data), err)
	}
	return &cp, nil
}

// store replaces the state of origin durably before the answer.
func (s *Server) store(origin string, body []byte) error {
	if err := atomicfile.WriteFile(s.stateFile(origin), body, 0o600); err != nil {
		return fmt.Errorf("witness state of %s: %w", origin, err)
	}
	return nil
}

// SizeOf returns the size the witness last cosigned for origin.
func (s *Server) SizeOf(origin string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, err := s.load(origin)
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// Error makes statusError an error.
func (e *statusError) Error() string { return strconv.Itoa(e.code) + " " + e.msg }
