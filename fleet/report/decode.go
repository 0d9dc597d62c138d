package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Reason says why a batch was refused, in a word a client can act on.
type Reason string

// The reasons of a *DecodeError.
const (
	ReasonSyntax    Reason = "syntax"        // not JSON, or trailing data
	ReasonRead      Reason = "read"          // the body could not be read (too large, cut off)
	ReasonWrongType Reason = "wrong-type"    // a value of the wrong JSON type
	ReasonNested    Reason = "nested"        // an object or array where the schema has none
	ReasonUnknown   Reason = "unknown-field" // a field the schema does not have (names are exact)
	ReasonDuplicate Reason = "duplicate-field"
	ReasonMissing   Reason = "missing-field"
	ReasonTooLong   Reason = "too-long"
	ReasonBadValue  Reason = "bad-value"
	ReasonBatchSize Reason = "batch-size" // no reports, or more than MaxBatch
	ReasonFuture    Reason = "time-future"
	ReasonTooOld    Reason = "time-too-old"
)

// DecodeError is a refused batch: which report (index in the batch, -1 for
// the batch itself), which field, why.
type DecodeError struct {
	Reason Reason
	Report int
	Field  string
	Detail string
	Err    error // the read or syntax error underneath, if any
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("report: ")
	if e.Report >= 0 {
		fmt.Fprintf(&b, "report %d: ", e.Report)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(string(e.Reason))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Options of [Decode]. Now is required; zero durations take the defaults.
type Options struct {
	Now     time.Time
	MaxSkew time.Duration // how far in the future a report time may be (default 10 minutes)
	MaxAge  time.Duration // how old a report may be (default 30 days)
}

// Decode reads one batch from r, strictly: exactly the fields of the format,
// spelled exactly, each at most once, every value of its type and form, a
// time within [Now-MaxAge, Now+MaxSkew], nothing after the batch. It reads
// r token by token and stops at the first problem, so a hostile body costs
// no more than what was read of it; the caller bounds r (http.MaxBytesReader).
// The error is a *DecodeError.
func Decode(r io.Reader, opts Options) (*Batch, error) {
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 10 * time.Minute
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 30 * 24 * time.Hour
	}
	d := &decoder{dec: json.NewDecoder(r), opts: opts, report: -1}
	d.dec.UseNumber()
	b, err := d.batch()
	if err != nil {
		return nil, err
	}
	return b, nil
}

type decoder struct {
	dec    *json.Decoder
	opts   Options
	report int
	field  string
}

func (d *decoder) fail(reason Reason, format string, a ...any) *DecodeError {
	return &DecodeError{Reason: reason, Report: d.report, Field: d.field, Detail: fmt.Sprintf(format, a...)}
}

// token reads the next token; read and syntax errors become *DecodeError.
func (d *decoder) token() (json.Token, error) {
	t, err := d.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, &DecodeError{Reason: ReasonSyntax, Report: d.report, Field: d.field, Detail: fmt.Sprintf("at byte %d", se.Offset), Err: err}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &DecodeError{Reason: ReasonSyntax, Report: d.report, Field: d.field, Detail: "unexpected end of input", Err: io.ErrUnexpectedEOF}
		default:
			return nil, &DecodeError{Reason: ReasonRead, Report: d.report, Field: d.field, Err: err}
		}
	}
	return t, nil
}

// delim reads a token that must be the delimiter want.
func (d *decoder) delim(want json.Delim) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); !ok || got != want {
		return d.fail(ReasonWrongType, "want %q, got %s", string(want), describe(t))
	}
	return nil
}

func (d *decoder) batch() (*Batch, error) {
	if err := d.delim('{'); err != nil {
		return nil, err
	}
	b := &Batch{}
	seen := false
	for d.dec.More() {
		t, err := d.token()
		if err != nil {
			return nil, err
		}
		key := t.(string) // object keys are strings
		switch {
		case key != "reports":
			return nil, d.fail(ReasonUnknown, "batch field %.64q", key)
		case seen:
			return nil, d.fail(ReasonDuplicate, `batch field "reports" twice`)
		}
		seen = true
		d.field = "reports"
		if err := d.delim('['); err != nil {
			return nil, err
		}
		d.field = ""
		for d.dec.More() {
			if len(b.Reports) == MaxBatch {
				return nil, d.fail(ReasonBatchSize, "more than %d reports", MaxBatch)
			}
			d.report = len(b.Reports)
			r, err := d.reportObject()
			if err != nil {
				return nil, err
			}
			b.Reports = append(b.Reports, r)
			d.report = -1
		}
		if err := d.delim(']'); err != nil {
			return nil, err
		}
	}
	if err := d.delim('}'); err != nil {
		return nil, err
	}
	if len(b.Reports) == 0 {
		return nil, d.fail(ReasonBatchSize, "no reports")
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, d.fail(ReasonSyntax, "data after the batch")
	}
	return b, nil
}

// reportObject reads one report object and checks it.
func (d *decoder) reportObject() (Report, error) {
	var r Report
	if err := d.delim('{'); err != nil {
		return r, err
	}
	var seen [16]bool
	for d.dec.More() {
		t, err := d.token()
		if err != nil {
			return r, err
		}
		key := t.(string)
		i := fieldIndex(key)
		if i < 0 {
			return r, d.fail(ReasonUnknown, "%.64q", key)
		}
		d.field = key
		if seen[i] {
			return r, d.fail(ReasonDuplicate, "")
		}
		seen[i] = true
		v, err := d.token()
		if err != nil {
			return r, err
		}
		if err := d.set(&r, key, v); err != nil {
			return r, err
		}
		d.field = ""
	}
	if err := d.delim('}'); err != nil {
		return r, err
	}
	for _, f := range fieldTable {
		if p := f.check(&r); p != nil {
			d.field = f.name
			return r, d.fail(p.reason, "%s", p.detail)
		}
	}
	if !seen[fieldIndex("time")] {
		d.field = "time"
		return r, d.fail(ReasonMissing, "")
	}
	d.field = ""
	return r, nil
}

// wireFields are the field names in the order of fieldTable, then time.
var wireFields = func() []string {
	var names []string
	for _, f := range fieldTable {
		names = append(names, f.name)
	}
	return append(names, "time")
}()

func fieldIndex(key string) int {
	for i, n := range wireFields {
		if n == key {
			return i
		}
	}
	return -1
}

// set stores the value v of field key in r, checking its JSON type.
func (d *decoder) set(r *Report, key string, v json.Token) error {
	if delim, ok := v.(json.Delim); ok {
		return d.fail(ReasonNested, "got %s", describe(delim))
	}
	switch key {
	case "sequence", "stage":
		n, ok := v.(json.Number)
		if !ok {
			return d.fail(ReasonWrongType, "want an integer, got %s", describe(v))
		}
		i, err := strconv.ParseInt(string(n), 10, 32)
		if err != nil {
			return d.fail(ReasonBadValue, "%.32q is not an integer in range", string(n))
		}
		if key == "sequence" {
			r.Sequence = int(i)
		} else {
			r.Stage = int(i)
		}
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return d.fail(ReasonWrongType, "want a string, got %s", describe(v))
	}
	switch key {
	case "report_id":
		r.ID = s
	case "device":
		r.Device = s
	case "platform":
		r.Platform = s
	case "release":
		r.Release = s
	case "build":
		r.Build = s
	case "ring":
		r.Ring = s
	case "component":
		r.Component = s
	case "improvement":
		r.Improvement = s
	case "outcome":
		r.Outcome = Outcome(s)
	case "error_class":
		r.ErrorClass = s
	case "time":
		return d.setTime(r, s)
	}
	return nil
}

func (d *decoder) setTime(r *Report, s string) error {
	if len(s) > 40 || !strings.HasSuffix(s, "Z") {
		return d.fail(ReasonBadValue, "want an RFC 3339 time in UTC (ending in Z)")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return d.fail(ReasonBadValue, "want an RFC 3339 time in UTC: %v", err)
	}
	switch {
	case t.After(d.opts.Now.Add(d.opts.MaxSkew)):
		return d.fail(ReasonFuture, "%s is more than %s after the collector's clock (%s)", s, d.opts.MaxSkew, d.opts.Now.UTC().Format(time.RFC3339))
	case t.Before(d.opts.Now.Add(-d.opts.MaxAge)):
		return d.fail(ReasonTooOld, "%s is more than %s before the collector's clock (%s)", s, d.opts.MaxAge, d.opts.Now.UTC().Format(time.RFC3339))
	}
	r.Time = t.UTC()
	return nil
}

// describe names the JSON type of a token, for error messages (never the value).
func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", t)
}
