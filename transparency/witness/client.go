package witness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ConflictError is a 409 answer carrying the size the witness stored:
// the caller retries with a consistency proof from that size.
type ConflictError struct {
	URL  string
	Size uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness %s: conflict: it last cosigned size %d", e.URL, e.Size)
}

// StatusError is any other answer than 200 and a sized 409.
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("witness %s: %d %s: %s", e.URL, e.Code, http.StatusText(e.Code), e.Body)
}

// maxResponse bounds a witness's answer.
const maxResponse = 16 << 10

// Submit posts an add-checkpoint request to url (the witness's
// submission prefix followed by /add-checkpoint) and returns the
// signature lines of the answer, unverified: the caller checks them with
// the witness's key. A 409 with a size is a *ConflictError, another
// status a *StatusError.
func Submit(ctx context.Context, hc *http.Client, url string, req *AddCheckpoint) ([]byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req.Marshal()))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("witness %s: reading the answer: %w", url, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("witness %s: answer longer than %d bytes", url, maxResponse)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
		s := strings.TrimSuffix(string(body), "\n")
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != s {
			return nil, &StatusError{URL: url, Code: resp.StatusCode, Body: "size " + strconv.Quote(string(body))}
		}
		return nil, &ConflictError{URL: url, Size: n}
	}
	return nil, &StatusError{URL: url, Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
}
