package install

import (
	"fmt"
	"strings"
)

// maxNameLength bounds component names and version ids.
const maxNameLength = 128

// NameError reports a component name or version id that is not of the form
// [a-z0-9][a-z0-9.+-]* (at most 128 characters, no ".."). Such names are
// refused before any file is touched: they become directory names.
type NameError struct {
	Kind string // "component" or "version id"
	Name string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: want lower-case letters, digits, '.', '+' or '-', starting with a letter or digit, no \"..\", at most %d characters",
		e.Kind, e.Name, maxNameLength)
}

// ValidComponent reports whether name is acceptable as a component name.
func ValidComponent(name string) bool { return validName(name) }

// ValidID reports whether id is acceptable as a version id.
func ValidID(id string) bool { return validName(id) }

func validName(s string) bool {
	if s == "" || len(s) > maxNameLength || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkComponent(name string) error {
	if !validName(name) {
		return &NameError{Kind: "component", Name: name}
	}
	return nil
}

func checkID(id string) error {
	if !validName(id) {
		return &NameError{Kind: "version id", Name: id}
	}
	return nil
}
