package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/user"
)

func jsonBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("api: encode response: %w", err)
	}
	return buf.Bytes(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := jsonBody(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal_error","message":"Internal server error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError maps an error to a WorkOS error body. Domain errors carry
// their code; anything else is logged and answered with a 500.
func (s *Server) writeError(w http.ResponseWriter, c *call, err error) {
	de, ok := domain.As(err)
	if !ok {
		c.log.Error("request failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"code": "internal_error", "message": "Internal server error.", "request_id": c.requestID})
		return
	}
	body := map[string]any{"code": de.Code, "message": de.Message}
	for k, v := range de.Details {
		if u, ok := v.(user.User); ok {
			v = renderUser(u)
		}
		body[k] = v
	}
	status := http.StatusBadRequest
	switch de.Kind {
	case domain.Invalid:
		status = http.StatusUnprocessableEntity
		if len(de.Fields) > 0 {
			body["errors"] = de.Fields
		}
	case domain.NotFound:
		status = http.StatusNotFound
	case domain.Conflict:
		status = http.StatusConflict
	case domain.Unauthorized:
		status = http.StatusUnauthorized
	case domain.Forbidden:
		status = http.StatusForbidden
	case domain.Unavailable:
		status = http.StatusServiceUnavailable
	case domain.TooManyRequests:
		status = http.StatusTooManyRequests
		if s, ok := de.Details["retry_after_seconds"].(int); ok {
			w.Header().Set("Retry-After", strconv.Itoa(s))
		}
	}
	writeJSON(w, status, body)
}

// decode reads a JSON object body into v. An empty body is {}. Unknown
// fields are ignored, since SDKs send optional ones; a known field of the
// wrong type is a 422 naming it.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		if !json.Valid(body) {
			return domain.Errorf(domain.BadRequest, "invalid_json", "The request body is not valid JSON.")
		}
		return &domain.Error{Kind: domain.Invalid, Code: "invalid_request_parameters", Message: "The request body must be a JSON object."}
	}
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	var fieldErr *fieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fieldErr):
		return domain.InvalidField(fieldErr.field, fieldErr.code, "%s", fieldErr.msg)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = badField(body, v)
		}
		return domain.InvalidField(field, "invalid_type", "%s must be of type %s.", field, jsonType(typeErr.Type.Kind().String()))
	default:
		return domain.Errorf(domain.BadRequest, "invalid_json", "The request body is not valid JSON.")
	}
}

func jsonType(kind string) string {
	switch {
	case kind == "string":
		return "string"
	case kind == "bool":
		return "boolean"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "map", kind == "struct":
		return "object"
	case kind == "slice":
		return "array"
	}
	return kind
}

// badField finds the top-level field of body that does not fit v's struct,
// for errors raised inside custom unmarshalers, which carry no field name.
func badField(body []byte, v any) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "body"
	}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if r, ok := raw[name]; ok && json.Unmarshal(r, reflect.New(t.Field(i).Type).Interface()) != nil {
			return name
		}
	}
	return "body"
}

type fieldError struct{ field, code, msg string }

func (e *fieldError) Error() string { return e.msg }

// opt is a JSON field that may be absent, null, or a value.
type opt[T any] struct {
	Set   bool
	Value *T
}

func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Value = &v
	return nil
}

// timestamp formats times as WorkOS does: UTC with milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func timestampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timestamp(*t)
	return &s
}
