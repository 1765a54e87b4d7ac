package exigo

import (
	"fmt"
	"strconv"
	"strings"
)

// EnhancedCode is an RFC 3463 enhanced status code such as {5, 7, 1}.
// The zero value means "none given": writers derive X.0.0 from the reply
// code's class.
type EnhancedCode [3]int

// String formats the code as "5.7.1", or "" for the zero value.
func (c EnhancedCode) String() string {
	if c == (EnhancedCode{}) {
		return ""
	}
	return strconv.Itoa(c[0]) + "." + strconv.Itoa(c[1]) + "." + strconv.Itoa(c[2])
}

// SMTPError is an SMTP reply that is not a success: a 4xx or 5xx code, an
// optional enhanced code and the text. It travels unchanged from the policy
// that produced it (an ACL rule, a router, a remote server) to the SMTP wire
// and into delivery status notifications. Text may hold several lines
// separated by "\n"; they become a multi-line reply.
type SMTPError struct {
	Code     int
	Enhanced EnhancedCode
	Message  string
}

// Error formats the reply as it would appear on one line of a log.
func (e *SMTPError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Code))
	if ec := e.EnhancedOrDefault(); ec != (EnhancedCode{}) {
		b.WriteByte(' ')
		b.WriteString(ec.String())
	}
	if e.Message != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(e.Message, "\n", " "))
	}
	return b.String()
}

// Temporary reports whether the reply is a 4xx one.
func (e *SMTPError) Temporary() bool { return e.Code/100 == 4 }

// EnhancedOrDefault returns the enhanced code, or class.0.0 when none was
// set and the code is a 2xx, 4xx or 5xx one.
func (e *SMTPError) EnhancedOrDefault() EnhancedCode {
	if e.Enhanced != (EnhancedCode{}) {
		return e.Enhanced
	}
	switch c := e.Code / 100; c {
	case 2, 4, 5:
		return EnhancedCode{c, 0, 0}
	}
	return EnhancedCode{}
}

// Errorf returns an *SMTPError with a formatted message.
func Errorf(code int, enhanced EnhancedCode, format string, args ...any) *SMTPError {
	return &SMTPError{Code: code, Enhanced: enhanced, Message: fmt.Sprintf(format, args...)}
}
