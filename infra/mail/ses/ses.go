// Package ses sends Keyway's mail through Amazon SES (the v2 API,
// SendEmail with Simple content: a subject, a text and an HTML part).
//
// Every send runs under a deadline (DefaultTimeout unless WithTimeout says
// otherwise), because a misconfigured endpoint or a local emulator that
// does not implement a call may never answer. Message bodies are never
// logged and never put in errors: they carry one-time codes and links.
package ses

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/keywayhq/keyway/infra/mail"
)

// DefaultTimeout bounds one Send, SDK retries included.
const DefaultTimeout = 10 * time.Second

// ErrSendFailed is matched (errors.Is) by every error Send returns when SES
// did not accept the message: an API error, a network error or the
// deadline. Errors from validation are mail.ErrInvalidMessage or
// mail.ErrInvalidSender instead, since retrying them cannot help.
var ErrSendFailed = errors.New("ses: send failed")

// SendError describes a failed send. It matches ErrSendFailed and unwraps
// to the SDK's error (so errors.Is(err, context.DeadlineExceeded) and
// errors.As(err, &smithy.APIError) work).
type SendError struct {
	Kind        string // the message's Kind
	Environment string // the message's Environment
	Code        string // the SES error code (MessageRejected, ...), if SES answered
	Err         error
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("ses: send failed")
	if e.Kind != "" {
		b.WriteString(" (" + e.Kind + ")")
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSendFailed) true.
func (e *SendError) Is(target error) bool { return target == ErrSendFailed }

// API is the part of *sesv2.Client the Mailer uses.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ API = (*sesv2.Client)(nil)

// SenderFunc returns the Branding (SenderEmail and SenderName are used)
// that mail for an environment is sent from.
type SenderFunc func(environment string) mail.Branding

// Senders returns a SenderFunc that looks the environment up in
// byEnvironment and falls back to def.
func Senders(def mail.Branding, byEnvironment map[string]mail.Branding) SenderFunc {
	m := make(map[string]mail.Branding, len(byEnvironment))
	for k, v := range byEnvironment {
		m[k] = v
	}
	return func(env string) mail.Branding {
		if b, ok := m[env]; ok {
			return b
		}
		return def
	}
}

// Mailer is a mail.Mailer that sends through SES.
type Mailer struct {
	client  API
	sender  SenderFunc
	timeout time.Duration
	log     *slog.Logger
	confSet string
}

var _ mail.Mailer = (*Mailer)(nil)

// Option configures a Mailer.
type Option func(*Mailer)

// WithTimeout sets the deadline of one Send (DefaultTimeout when d <= 0).
// A context with an earlier deadline still wins.
func WithTimeout(d time.Duration) Option {
	return func(m *Mailer) {
		if d > 0 {
			m.timeout = d
		}
	}
}

// WithLogger sets the logger for one line per send (kind, environment,
// SES message id or error code; never the recipient's message body).
func WithLogger(l *slog.Logger) Option {
	return func(m *Mailer) {
		if l != nil {
			m.log = l
		}
	}
}

// WithConfigurationSet sends with the named SES configuration set (for
// event publishing, suppression and so on).
func WithConfigurationSet(name string) Option {
	return func(m *Mailer) { m.confSet = name }
}

// New returns a Mailer sending through client, from the sender that
// sender returns for each message's Environment. client is usually a
// *sesv2.Client from NewClient.
func New(client API, sender SenderFunc, opts ...Option) *Mailer {
	m := &Mailer{
		client:  client,
		sender:  sender,
		timeout: DefaultTimeout,
		log:     slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// tagValue is what SES accepts in a message tag.
var tagValue = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Send validates msg and its sender and sends it with SES SendEmail.
func (m *Mailer) Send(ctx context.Context, msg mail.Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	if m.sender == nil {
		return fmt.Errorf("%w: no sender configured", mail.ErrInvalidSender)
	}
	from, err := m.sender(msg.Environment).From()
	if err != nil {
		return err
	}

	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: []string{msg.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(msg.Subject), Charset: aws.String("UTF-8")},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(msg.Text), Charset: aws.String("UTF-8")},
				Html: &types.Content{Data: aws.String(msg.HTML), Charset: aws.String("UTF-8")},
			},
		}},
	}
	if msg.Kind != "" {
		in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String("keyway_kind"), Value: aws.String(msg.Kind)})
	}
	if tagValue.MatchString(msg.Environment) {
		in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String("keyway_environment"), Value: aws.String(msg.Environment)})
	}
	if m.confSet != "" {
		in.ConfigurationSetName = aws.String(m.confSet)
	}

	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	start := time.Now()
	out, err := m.client.SendEmail(ctx, in)
	if err != nil {
		se := &SendError{Kind: msg.Kind, Environment: msg.Environment, Err: err}
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			se.Code = apiErr.ErrorCode()
		}
		m.log.LogAttrs(ctx, slog.LevelWarn, "ses: send failed",
			slog.String("kind", msg.Kind), slog.String("environment", msg.Environment),
			slog.String("code", se.Code), slog.Bool("deadline", errors.Is(err, context.DeadlineExceeded)),
			slog.Duration("took", time.Since(start)))
		return se
	}
	id := ""
	if out != nil && out.MessageId != nil {
		id = *out.MessageId
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "ses: sent",
		slog.String("kind", msg.Kind), slog.String("environment", msg.Environment),
		slog.String("message_id", id), slog.Duration("took", time.Since(start)))
	return nil
}

// NewClient loads the default AWS configuration (environment, shared
// files, instance roles) and returns an SES v2 client. The endpoint can be
// overridden, in this order, by AWS_ENDPOINT_URL_SESV2, AWS_ENDPOINT_URL_SES
// (the SES v1 variable, honoured too because the v1 and v2 APIs share one
// endpoint) and AWS_ENDPOINT_URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
// turns all of them off.
func NewClient(ctx context.Context, optFns ...func(*config.LoadOptions) error) (*sesv2.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("ses: load AWS config: %w", err)
	}
	return NewClientFromConfig(cfg), nil
}

// NewClientFromConfig returns an SES v2 client for cfg, honouring
// AWS_ENDPOINT_URL_SES as NewClient describes.
func NewClientFromConfig(cfg aws.Config, optFns ...func(*sesv2.Options)) *sesv2.Client {
	opts := make([]func(*sesv2.Options), 0, len(optFns)+1)
	if ep := sesV1Endpoint(); ep != "" {
		opts = append(opts, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(ep) })
	}
	return sesv2.NewFromConfig(cfg, append(opts, optFns...)...)
}

// sesV1Endpoint returns AWS_ENDPOINT_URL_SES when it should apply: set,
// AWS_ENDPOINT_URL_SESV2 unset, and configured endpoints not ignored.
func sesV1Endpoint() string {
	if ignore, _ := strconv.ParseBool(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")); ignore {
		return ""
	}
	if os.Getenv("AWS_ENDPOINT_URL_SESV2") != "" {
		return ""
	}
	return os.Getenv("AWS_ENDPOINT_URL_SES")
}
