//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"
)

// PKCS#11 3.0 constants that miekg/pkcs11 v1.1.2 does not define.
const (
	ckkECEdwards           = 0x40
	ckmECEdwardsKeyPairGen = 0x1055
	ckmEdDSA               = 0x1057
)

// errC11TokenNotFound is crypto11's message when no token matches (its
// error value is not exported).
const errC11TokenNotFound = "could not find PKCS#11 token"

// token is an open, logged-in session on one token. crypto11 owns the
// module: it initialises it (once per process and module, reference
// counted) and finalises it when its last context closes. raw is a second
// handle on the same loaded module, for what crypto11 does not do (token
// details, login errors, object look-up, EdDSA); it never initialises or
// finalises the module.
type token struct {
	c11   *crypto11.Context
	raw   *p11.Ctx
	slot  uint
	label string
	flags uint // CK_TOKEN_INFO flags

	mu sync.Mutex // serialises operations on sh
	sh p11.SessionHandle
}

// openToken loads the module of u, finds its token and logs in with the
// PIN (pin-source, else pin) when the token requires it.
func openToken(ctx context.Context, u *URI, pin PINFunc) (*token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := ModulePath(u)
	if err != nil {
		return nil, err
	}
	cfg := &crypto11.Config{Path: path, LoginNotSupported: true}
	switch {
	case u.Serial != "":
		cfg.TokenSerial = u.Serial
	case u.Token != "":
		cfg.TokenLabel = u.Token
	case u.HasSlotID:
		if u.SlotID > math.MaxInt32 {
			return nil, &URIError{Attr: "slot-id", Reason: fmt.Sprintf("%d is out of range", u.SlotID)}
		}
		n := int(u.SlotID)
		cfg.SlotNumber = &n
	default:
		return nil, &URIError{Attr: "token", Reason: "missing: name the token with token=LABEL (or serial= or slot-id=)"}
	}
	c11, err := crypto11.Configure(cfg)
	if err != nil {
		if err.Error() == errC11TokenNotFound {
			return nil, &TokenNotFoundError{Want: u.tokenWant(), Present: listTokens(path)}
		}
		return nil, &ModuleError{Module: path, Err: err}
	}
	t := &token{c11: c11, raw: p11.New(path)}
	if t.raw == nil {
		c11.Close()
		return nil, &ModuleError{Module: path, Err: errors.New("cannot load the module a second time")}
	}
	if err := t.open(u, pin); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// open finds the slot, opens the session and logs in.
func (t *token) open(u *URI, pin PINFunc) error {
	slots, err := t.raw.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("listing slots: %w", err)
	}
	var present []string
	var found []uint
	var info p11.TokenInfo
	for _, s := range slots {
		ti, err := t.raw.GetTokenInfo(s)
		if err != nil {
			return fmt.Errorf("slot %d: %w", s, err)
		}
		if ti.Flags&p11.CKF_TOKEN_INITIALIZED != 0 {
			present = append(present, ti.Label)
		}
		if u.matchesToken(s, ti) {
			found = append(found, s)
			info = ti
		}
	}
	switch len(found) {
	case 0:
		slices.Sort(present)
		return &TokenNotFoundError{Want: u.tokenWant(), Present: present}
	case 1:
	default:
		return fmt.Errorf("%d tokens match %s: add serial= to the URI", len(found), u.tokenWant())
	}
	t.slot, t.label, t.flags = found[0], info.Label, info.Flags
	if t.sh, err = t.raw.OpenSession(t.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION); err != nil {
		t.sh = 0
		return fmt.Errorf("token %q: opening a session: %w", t.label, err)
	}
	if t.flags&p11.CKF_LOGIN_REQUIRED == 0 {
		return nil
	}
	return t.login(u, pin)
}

// login logs the user in. Login state is the application's, per token:
// once a PIN is accepted, later sessions of this process are logged in
// too (CKR_USER_ALREADY_LOGGED_IN) until the module is finalised.
func (t *token) login(u *URI, pin PINFunc) error {
	if t.flags&p11.CKF_USER_PIN_LOCKED != 0 {
		return fmt.Errorf("token %q: %w", t.label, ErrPINLocked)
	}
	p, err := pinFor(u, t.label, pin)
	if err != nil {
		return fmt.Errorf("token %q: %w", t.label, err)
	}
	err = t.raw.Login(t.sh, p11.CKU_USER, string(p))
	if u.PINSource != "" {
		clear(p) // read here; a PINFunc's buffer is the caller's
	}
	var code p11.Error
	errors.As(err, &code)
	switch {
	case err == nil, code == p11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case code == p11.CKR_PIN_INCORRECT, code == p11.CKR_PIN_LEN_RANGE:
		return fmt.Errorf("token %q: %w", t.label, ErrWrongPIN)
	case code == p11.CKR_PIN_LOCKED:
		return fmt.Errorf("token %q: %w", t.label, ErrPINLocked)
	}
	return fmt.Errorf("token %q: login: %w", t.label, err)
}

// close ends the session and releases the module.
func (t *token) close() {
	if t.raw != nil {
		if t.sh != 0 {
			t.raw.CloseSession(t.sh)
		}
		t.raw.Destroy() // dlclose only: crypto11 finalises
	}
	t.c11.Close()
}

// find returns up to max objects matching tmpl.
func (t *token) find(tmpl []*p11.Attribute, max int) ([]p11.ObjectHandle, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.raw.FindObjectsInit(t.sh, tmpl); err != nil {
		return nil, fmt.Errorf("token %q: searching objects: %w", t.label, err)
	}
	hs, _, err := t.raw.FindObjects(t.sh, max)
	if ferr := t.raw.FindObjectsFinal(t.sh); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("token %q: searching objects: %w", t.label, err)
	}
	return hs, nil
}

// attrs reads attributes of an object; a missing one has a nil value.
func (t *token) attrs(h p11.ObjectHandle, types ...uint) ([][]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]byte, len(types))
	for i, typ := range types {
		// One at a time: a token answers CKR_ATTRIBUTE_TYPE_INVALID for
		// the whole template when one attribute does not apply.
		a, err := t.raw.GetAttributeValue(t.sh, h, []*p11.Attribute{p11.NewAttribute(typ, nil)})
		if err != nil {
			var code p11.Error
			if errors.As(err, &code) && (code == p11.CKR_ATTRIBUTE_TYPE_INVALID || code == p11.CKR_ATTRIBUTE_SENSITIVE) {
				continue
			}
			return nil, fmt.Errorf("token %q: reading attribute %#x: %w", t.label, typ, err)
		}
		out[i] = a[0].Value
	}
	return out, nil
}

// hasMechanism reports whether the token lists mechanism m.
func (t *token) hasMechanism(m uint) (bool, error) {
	ms, err := t.raw.GetMechanismList(t.slot)
	if err != nil {
		return false, fmt.Errorf("token %q: listing mechanisms: %w", t.label, err)
	}
	for _, x := range ms {
		if x.Mechanism == m {
			return true, nil
		}
	}
	return false, nil
}

// listTokens returns the labels of the tokens of the module at path, for
// an error message; nil when they cannot be listed.
func listTokens(path string) []string {
	raw := p11.New(path)
	if raw == nil {
		return nil
	}
	defer raw.Destroy()
	err := raw.Initialize()
	var code p11.Error
	if err != nil && !(errors.As(err, &code) && code == p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return nil
	}
	if err == nil {
		defer raw.Finalize() // only what this function initialised
	}
	slots, err := raw.GetSlotList(true)
	if err != nil {
		return nil
	}
	var labels []string
	for _, s := range slots {
		if ti, err := raw.GetTokenInfo(s); err == nil && ti.Flags&p11.CKF_TOKEN_INITIALIZED != 0 {
			labels = append(labels, ti.Label)
		}
	}
	slices.Sort(labels)
	return labels
}

// matchesToken reports whether the token in slot matches every token
// attribute of u.
func (u *URI) matchesToken(slot uint, ti p11.TokenInfo) bool {
	return (!u.HasSlotID || uint64(slot) == u.SlotID) &&
		(u.Token == "" || ti.Label == u.Token) &&
		(u.Serial == "" || ti.SerialNumber == u.Serial) &&
		(u.Manufacturer == "" || ti.ManufacturerID == u.Manufacturer) &&
		(u.Model == "" || ti.Model == u.Model)
}

// objectTemplate selects objects by the URI's object and id.
func objectTemplate(label string, id []byte, class ...uint) []*p11.Attribute {
	var tmpl []*p11.Attribute
	for _, c := range class {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_CLASS, c))
	}
	if label != "" {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, label))
	}
	if len(id) > 0 {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, id))
	}
	return tmpl
}

// ulong decodes a CK_ULONG attribute value (native byte order and size).
func ulong(b []byte) uint {
	if len(b) == 0 {
		return math.MaxUint
	}
	return p11BytesToUint(b)
}

// p11BytesToUint reads a native-endian unsigned integer of len(b) bytes.
func p11BytesToUint(b []byte) uint {
	var n uint
	if nativeLittleEndian() {
		for i := len(b) - 1; i >= 0; i-- {
			n = n<<8 | uint(b[i])
		}
	} else {
		for _, c := range b {
			n = n<<8 | uint(c)
		}
	}
	return n
}

func nativeLittleEndian() bool {
	b := p11.NewAttribute(0, uint(1)).Value
	return bytes.Equal(b[:1], []byte{1})
}
