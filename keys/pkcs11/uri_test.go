package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
	}{
		{"pkcs11:", URI{}},
		{"pkcs11:token=bsi-root;object=root-1;type=private?module-name=softhsm2",
			URI{Token: "bsi-root", Object: "root-1", Type: TypePrivate, ModuleName: "softhsm2"}},
		{"pkcs11:token=My%20Token;id=%01%02%ff;slot-id=3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			URI{Token: "My Token", ID: []byte{1, 2, 0xff}, SlotID: 3, HasSlotID: true,
				ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/run/pin"}},
		{"pkcs11:serial=0123abcd;manufacturer=Yubico%20%28www.yubico.com%29;model=YubiKey%20YK5;object=X.509%20Certificate%20for%20Digital%20Signature",
			URI{Serial: "0123abcd", Manufacturer: "Yubico (www.yubico.com)", Model: "YubiKey YK5", Object: "X.509 Certificate for Digital Signature"}},
		{"pkcs11:object=a=b&c?pin-source=/etc/pin", URI{Object: "a=b&c", PINSource: "/etc/pin"}},
		{"pkcs11:object=caf%C3%A9", URI{Object: "café"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tc.want, u); d != "" {
				t.Fatalf("Parse(%q) -want +got:\n%s", tc.in, d)
			}
			again, err := Parse(u.String())
			if err != nil {
				t.Fatalf("Parse(String()=%q): %v", u.String(), err)
			}
			if d := cmp.Diff(u, again); d != "" {
				t.Fatalf("round trip through %q -want +got:\n%s", u.String(), d)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in, attr, msg string
	}{
		{"pkcs12:token=a", "", "does not start with"},
		{"PKCS11:token=a", "", "does not start with"},
		{"pkcs11:token=a;token=b", "token", "given twice"},
		{"pkcs11:token=a;;object=b", "", "empty attribute"},
		{"pkcs11:token=a;", "", "empty attribute"},
		{"pkcs11:token", "token", `missing "=value"`},
		{"pkcs11:token=", "token", "empty value"},
		{"pkcs11:colour=red", "colour", "unknown or unsupported"},
		{"pkcs11:x-vendor=1", "x-vendor", "unknown or unsupported"},
		{"pkcs11:library-version=1", "library-version", "unknown or unsupported"},
		{"pkcs11:token=a?token=b", "token", "wrong part"},
		{"pkcs11:module-name=softhsm2", "module-name", "wrong part"},
		{"pkcs11:object=a b", "object", "must be percent-encoded"},
		{"pkcs11:object=a/b", "object", "must be percent-encoded"},
		{"pkcs11:object=%4", "object", "truncated percent-encoding"},
		{"pkcs11:object=%zz", "object", "bad percent-encoding"},
		{"pkcs11:object=%ff", "object", "not UTF-8"},
		{"pkcs11:slot-id=-1", "slot-id", "not a decimal number"},
		{"pkcs11:slot-id=01", "slot-id", "not a decimal number"},
		{"pkcs11:slot-id=99999999999999999999", "slot-id", "not a decimal number"},
		{"pkcs11:type=secret", "type", "not one of"},
		{"pkcs11:object=a?module-path=lib.so", "module-path", "not an absolute path"},
		{"pkcs11:object=a?module-name=../x", "module-name", "not a module file name"},
		{"pkcs11:object=a?module-name=a&module-path=/b", "module-path", "both given"},
		{"pkcs11:object=a?pin-source=|/bin/pin", "pin-source", "neither an absolute path"},
		{"pkcs11:object=a?pin-source=file://host/pin", "pin-source", "with a host"},
		{"pkcs11:object=a?pin-source=/a/../pin", "pin-source", "not a clean path"},
		{"pkcs11:object=a?", "", "empty query"},
		{"pkcs11:object=a?pin-value=s3cret%zz", "pin-value", "a PIN in the URI is refused"},
		{"pkcs11:object=" + strings.Repeat("a", maxURI), "", "longer than"},
		// Short as given, too long as String writes it (each id byte as %XX).
		{"pkcs11:id=" + strings.Repeat("w", 1500), "", "once written with its bytes escaped"},
	} {
		name := tc.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.in)
			var ue *URIError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %v, want a *URIError", tc.in, err)
			}
			if ue.Attr != tc.attr || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Parse(%q) = %q (attribute %q), want attribute %q and %q", tc.in, err, ue.Attr, tc.attr, tc.msg)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q repeats the PIN", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"pkcs11:object=a?pin-value=1234":                   "pkcs11:object=a?pin-value=***",
		"pkcs11:object=a?pin-value=1234&module-name=x":     "pkcs11:object=a?pin-value=***&module-name=x",
		"pkcs11:pin-value=1;object=a?pin-value=2":          "pkcs11:pin-value=***;object=a?pin-value=***",
		"pkcs11:object=a?module-name=softhsm2":             "pkcs11:object=a?module-name=softhsm2",
		"pkcs11:object=pin-value%3D?pin-value=x%26y&a=pin": "pkcs11:object=pin-value%3D?pin-value=***&a=pin",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: whatever parses round-trips through String, and no error
// repeats a pin-value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=bsi-root;object=root-1;type=private?module-name=softhsm2",
		"pkcs11:token=My%20Token;id=%01%02%ff;slot-id=3?module-path=/usr/lib/x.so&pin-source=file:/run/pin",
		"pkcs11:serial=1;manufacturer=m;model=n;object=a=b&c?pin-source=/etc/pin",
		"pkcs11:object=a?pin-value=secretpin",
		"pkcs11:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			for _, v := range pinValues(s) {
				// A value that also stands elsewhere in the input (an
				// attribute named "0000000" holds "0000"), or in the
				// quoted form of another part ("\x00000" holds "0000"; the
				// error's quotes around the attribute "0000000" hold
				// "\"000"), may be quoted as that other part: so may any
				// value the error for the input without it also holds.
				rest := strings.Replace(s, "pin-value="+v, "pin-value=", 1)
				if len(v) < 4 || strings.Contains(fmt.Sprintf("%q", rest), v) || !strings.Contains(err.Error(), v) {
					continue
				}
				if _, err2 := Parse(rest); err2 != nil && strings.Contains(err2.Error(), v) {
					continue
				}
				t.Fatalf("error %q repeats pin-value %q", err, v)
			}
			return
		}
		again, err := Parse(u.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, Parse(String()=%q): %v", s, u.String(), err)
		}
		if !cmp.Equal(u, again, cmp.Comparer(bytes.Equal)) {
			t.Fatalf("round trip of %q through %q: %+v != %+v", s, u.String(), u, again)
		}
		if again.String() != u.String() {
			t.Fatalf("String is not canonical: %q then %q", u.String(), again.String())
		}
	})
}

// pinValues returns the values of the pin-value attributes of s.
func pinValues(s string) []string {
	var out []string
	for i := 0; ; {
		j := strings.Index(s[i:], "pin-value=")
		if j < 0 {
			return out
		}
		i += j
		if i > 0 && strings.IndexByte(":;?&", s[i-1]) >= 0 {
			v := s[i+len("pin-value="):]
			if k := strings.IndexAny(v, ";&?"); k >= 0 {
				v = v[:k]
			}
			out = append(out, v)
		}
		i += len("pin-value=")
	}
}
