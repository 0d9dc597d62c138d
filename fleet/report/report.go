package report

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Limits of the format.
const (
	MaxBatch = 500 // reports in one batch
	// DeviceBatch is the most reports of one device a sender should put in
	// one batch: the collector's default per-device burst is 60, and a
	// batch over a device's burst is refused (429) however long it waits.
	DeviceBatch = 50
	MaxField    = 64 // bytes of any string field
	MaxStage    = 1000
	MaxSequence = 1<<31 - 1
	idLen       = 32 // hex digits of report_id and device
)

// Outcome is what happened to one improvement on one device.
type Outcome string

// The outcomes a device reports.
const (
	Offered          Outcome = "offered"           // the improvement applied and was offered to the device
	Installed        Outcome = "installed"         // installed and healthy
	RolledBack       Outcome = "rolled-back"       // installed, then rolled back (by the device or a withdrawal)
	Retired          Outcome = "retired"           // superseded or retired by a later release
	Declined         Outcome = "declined"          // not installed by local policy (deferral, user choice)
	HealthFailed     Outcome = "health-failed"     // installed, failed its health check
	SecurityFailure  Outcome = "security-failure"  // refused: signatures, hashes, rollback of metadata
	FreshnessFailure Outcome = "freshness-failure" // refused: metadata expired or frozen
)

// Outcomes lists every outcome in the order statistics show them.
var Outcomes = []Outcome{Offered, Installed, HealthFailed, RolledBack, SecurityFailure, FreshnessFailure, Declined, Retired}

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// Failed reports whether o counts as a failure of the improvement on the
// device: a failed health check or a rollback. Security and freshness
// failures are refusals of the metadata or payload, counted on their own:
// they say something about the delivery path, not the improvement's code.
func (o Outcome) Failed() bool { return o == HealthFailed || o == RolledBack }

// Attempted reports whether o means the device tried to install the
// improvement (the denominator of the failure rate).
func (o Outcome) Attempted() bool { return o == Installed || o.Failed() }

// Report is one device's statement about one improvement.
type Report struct {
	ID          string    `json:"report_id"`
	Device      string    `json:"device"`
	Platform    string    `json:"platform"`
	Release     string    `json:"release"`
	Build       string    `json:"build,omitempty"`
	Ring        string    `json:"ring,omitempty"`
	Component   string    `json:"component"`
	Improvement string    `json:"improvement"`
	Sequence    int       `json:"sequence"`
	Stage       int       `json:"stage"`
	Outcome     Outcome   `json:"outcome"`
	ErrorClass  string    `json:"error_class,omitempty"`
	Time        time.Time `json:"time"`
}

// Batch is the body of a POST to /v1/reports.
type Batch struct {
	Reports []Report `json:"reports"`
}

// NewID returns a fresh random id in the form of report_id and device:
// 32 lower-case hex digits from rand (crypto/rand.Reader when nil).
func NewID(rand_ io.Reader) (string, error) {
	if rand_ == nil {
		rand_ = rand.Reader
	}
	var b [idLen / 2]byte
	if _, err := io.ReadFull(rand_, b[:]); err != nil {
		return "", fmt.Errorf("report: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Encode validates every report of b (see [Report.Validate]) and returns
// the batch as JSON, times in UTC: what a device sends.
func (b Batch) Encode() ([]byte, error) {
	if len(b.Reports) == 0 || len(b.Reports) > MaxBatch {
		return nil, &DecodeError{Reason: ReasonBatchSize, Report: -1, Detail: fmt.Sprintf("%d reports, want 1 to %d", len(b.Reports), MaxBatch)}
	}
	out := Batch{Reports: make([]Report, len(b.Reports))}
	for i, r := range b.Reports {
		r.Time = r.Time.UTC()
		if err := r.Validate(); err != nil {
			var de *DecodeError
			if asDecodeError(err, &de) {
				de.Report = i
			}
			return nil, err
		}
		out.Reports[i] = r
	}
	return json.Marshal(out)
}

// Validate checks the form of every field of r (not the time window, which
// needs the receiver's clock). The error is a *DecodeError with Report -1.
func (r *Report) Validate() error {
	for _, f := range fieldTable {
		if err := f.check(r); err != nil {
			return &DecodeError{Reason: err.reason, Report: -1, Field: f.name, Detail: err.detail}
		}
	}
	if r.Time.IsZero() {
		return &DecodeError{Reason: ReasonMissing, Report: -1, Field: "time"}
	}
	return nil
}

func asDecodeError(err error, de **DecodeError) bool {
	d, ok := err.(*DecodeError)
	if ok {
		*de = d
	}
	return ok
}

// fieldProblem is a field check's verdict.
type fieldProblem struct {
	reason Reason
	detail string
}

func problem(reason Reason, format string, a ...any) *fieldProblem {
	return &fieldProblem{reason: reason, detail: fmt.Sprintf(format, a...)}
}

// Character classes of the string fields.
const (
	lowerDigit = "abcdefghijklmnopqrstuvwxyz0123456789"
	upper      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	hexDigits  = "0123456789abcdef"
)

// checkString checks s against its form: optional or not, first character
// from first (any of rest when first is ""), others from rest, at most max bytes.
func checkString(s string, required bool, first, rest string, max int) *fieldProblem {
	if s == "" {
		if required {
			return problem(ReasonMissing, "empty")
		}
		return nil
	}
	if len(s) > max {
		return problem(ReasonTooLong, "%d bytes, at most %d", len(s), max)
	}
	if first == "" {
		first = rest
	}
	if !strings.ContainsRune(first, rune(s[0])) {
		return problem(ReasonBadValue, "must start with one of [%s]", classDesc(first))
	}
	for i := 1; i < len(s); i++ {
		if !strings.ContainsRune(rest, rune(s[i])) {
			return problem(ReasonBadValue, "byte %d (%q) not allowed", i, s[i])
		}
	}
	return nil
}

func classDesc(c string) string {
	switch c {
	case lowerDigit:
		return "a-z0-9"
	case hexDigits:
		return "0-9a-f"
	case lowerDigit + upper:
		return "A-Za-z0-9"
	case "abcdefghijklmnopqrstuvwxyz":
		return "a-z"
	}
	return c
}

func checkHexID(s string) *fieldProblem {
	if s == "" {
		return problem(ReasonMissing, "empty")
	}
	if len(s) != idLen {
		return problem(ReasonBadValue, "%d characters, want %d lower-case hex digits", len(s), idLen)
	}
	return checkString(s, true, hexDigits, hexDigits, idLen)
}

var reservedRoles = []string{"root", "targets", "snapshot", "timestamp"}

// fieldTable lists the fields of a report with their checks, in wire order.
var fieldTable = []struct {
	name  string
	check func(r *Report) *fieldProblem
}{
	{"report_id", func(r *Report) *fieldProblem { return checkHexID(r.ID) }},
	{"device", func(r *Report) *fieldProblem { return checkHexID(r.Device) }},
	{"platform", func(r *Report) *fieldProblem {
		return checkString(r.Platform, true, lowerDigit, lowerDigit+"._-", MaxField)
	}},
	{"release", func(r *Report) *fieldProblem {
		return checkString(r.Release, true, lowerDigit+upper, lowerDigit+upper+"._+-", MaxField)
	}},
	{"build", func(r *Report) *fieldProblem {
		return checkString(r.Build, false, lowerDigit+upper, lowerDigit+upper+"._+-", MaxField)
	}},
	{"ring", func(r *Report) *fieldProblem { return checkString(r.Ring, false, lowerDigit, lowerDigit+"-", 32) }},
	{"component", func(r *Report) *fieldProblem {
		if p := checkString(r.Component, true, "abcdefghijklmnopqrstuvwxyz", lowerDigit+"-", 32); p != nil {
			return p
		}
		for _, role := range reservedRoles {
			if r.Component == role {
				return problem(ReasonBadValue, "reserved for the %s role", role)
			}
		}
		return nil
	}},
	{"improvement", func(r *Report) *fieldProblem {
		if p := checkString(r.Improvement, true, lowerDigit, lowerDigit+".+-", MaxField); p != nil {
			return p
		}
		if len(r.Improvement) < 3 {
			return problem(ReasonBadValue, "shorter than 3 characters")
		}
		if strings.Contains(r.Improvement, "..") {
			return problem(ReasonBadValue, `contains ".."`)
		}
		return nil
	}},
	{"sequence", func(r *Report) *fieldProblem {
		if r.Sequence < 1 || r.Sequence > MaxSequence {
			return problem(ReasonBadValue, "%d out of range 1..%d", r.Sequence, MaxSequence)
		}
		return nil
	}},
	{"stage", func(r *Report) *fieldProblem {
		if r.Stage < 0 || r.Stage > MaxStage {
			return problem(ReasonBadValue, "%d out of range 0..%d", r.Stage, MaxStage)
		}
		return nil
	}},
	{"outcome", func(r *Report) *fieldProblem {
		if r.Outcome == "" {
			return problem(ReasonMissing, "empty")
		}
		if !r.Outcome.Valid() {
			return problem(ReasonBadValue, "unknown outcome %.64q", string(r.Outcome))
		}
		return nil
	}},
	{"error_class", func(r *Report) *fieldProblem {
		return checkString(r.ErrorClass, false, lowerDigit, lowerDigit+"._-", MaxField)
	}},
}
