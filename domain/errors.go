// Package domain holds what every aggregate shares: the typed error that
// crosses from the domain and app layers to the API, which maps it to a
// WorkOS error body.
package domain

import (
	"errors"
	"fmt"
)

// Kind says what went wrong, and so which status and body the API answers with.
type Kind int

const (
	// Invalid is bad input: 422 invalid_request_parameters with field errors.
	Invalid Kind = iota + 1
	// BadRequest is a rule the request breaks: 400 {code, message}.
	BadRequest
	// NotFound is a missing resource: 404 {message}.
	NotFound
	// Conflict is a state conflict: 409 {code, message}.
	Conflict
	// Unauthorized is a missing or unknown credential: 401.
	Unauthorized
	// TooManyRequests is a rate limit: 429 with Retry-After.
	TooManyRequests
	// Forbidden is a step the caller must take first: 403 {code, message, ...}.
	Forbidden
	// Unavailable is a dependency that failed (mail): 503 {code, message}.
	Unavailable
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field string `json:"field"`
	Code  string `json:"code"`
}

// Error is a domain error with the WorkOS code it maps to.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  []FieldError
	// Details are extra fields of the error body (e.g. errors[] of password_strength_error).
	Details map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField is the 422 error for one bad field.
func InvalidField(field, code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: "invalid_request_parameters", Message: fmt.Sprintf(format, args...),
		Fields: []FieldError{{Field: field, Code: code}}}
}

// NotFoundf is the 404 error for a missing resource.
func NotFoundf(code, format string, args ...any) *Error {
	return Errorf(NotFound, code, format, args...)
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
