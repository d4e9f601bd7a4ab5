package config

import (
	"errors"
	"slices"

	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Var documents one environment variable; Vars is the table in the README.
type Var struct {
	Name, Default, Meaning string
}

// Vars lists every variable photobot reads.
var Vars = []Var{
	{"TG_BOT_TOKEN", "", "Telegram bot token from @BotFather"},
	{"REPLICATE_API_TOKEN", "", "Replicate API token (r8_...)"},
	{"REPLICATE_MODEL", "", "owner/name (official model), owner/name:<version> or a 64-hex version id; not with EFFECTS"},
	{"REPLICATE_TITLE", "Enhance / Улучшить", "what users see of REPLICATE_MODEL (buttons, captions, /start): text, or {\"en\": ..., \"ru\": ...}"},
	{"REPLICATE_INPUT", "{}", "JSON object of model inputs sent with every photo"},
	{"REPLICATE_IMAGE_FIELD", "image", "model input that receives the photo URL"},
	{"REPLICATE_WEBHOOK_SECRET", "fetched from Replicate", "whsec_... key that signs Replicate webhooks"},
	{"REPLICATE_PROMPT_FIELD", "", "model input that receives the photo's caption (e.g. prompt); unset: captions are ignored"},
	{"REPLICATE_COST_PER_SECOND", "", "what REPLICATE_MODEL costs you, in USD per second of model time (for the owner's figures)"},
	{"EFFECTS", "", "JSON array of effects: a menu of models (see Effects); replaces REPLICATE_MODEL and its companions"},
	{"EFFECTS_FILE", "", "path of a file holding the EFFECTS JSON (run and serve; the deploy reads it into EFFECTS)"},
	{"RESULT_AS", "photo", "how results are sent: photo (recompressed by Telegram), document (the file itself) or both; an effect's send wins"},
	{"RESULT_HOSTS", "replicate.delivery", "comma-separated host names (and their subdomains) model results may come from: https only, public addresses only, redirects included; any other output is neither sent nor downloaded, and the user is told the result could not be delivered"},
	{"DEFAULT_EFFECT", "", "with several effects: the id of the one every photo starts at once (the menu stays under the result)"},
	{"BOT_ABOUT", "", "your own words at the top of /start and /help: text, or {\"en\": ..., \"ru\": ...}"},
	{"PREDICTION_DEADLINE", "10m", "Replicate cancels a prediction running longer (Cancel-After); 5s to 24h"},
	{"ALLOWED_USERS", "everyone", "comma-separated Telegram user ids or @usernames served; others are refused politely"},
	{"ADMIN_USERS", "", "user ids or @usernames exempt from the limits (ids are safer: a @username can change hands)"},
	{"MAX_ACTIVE_PER_USER", "2", "predictions one user may have in flight; 0 = unlimited"},
	{"DAILY_LIMIT_PER_USER", "50", "predictions one user may start per UTC day; 0 = unlimited"},
	{"PRICE_STARS", "0", "price of one processed photo in Telegram Stars; 0 = payments off (an effect's price overrides it)"},
	{"FREE_PER_DAY", "1 with a price", "photos each user may process free per UTC day before paying"},
	{"STAR_PACKS", "50,150,500", "top-up amounts in Stars that /buy offers (comma-separated, each >= 1)"},
	{"PAY_SUPPORT", "built-in words", "the answer to /paysupport: text, or {\"en\": ..., \"ru\": ...}"},
	{"TERMS", "built-in words", "the answer to /terms: text, or {\"en\": ..., \"ru\": ...}"},
	{"S3_BUCKET", "", "bucket for photos and task state (run: optional, DATA_DIR otherwise)"},
	{"AWS_ACCESS_KEY_ID", "", "static access key of the bucket's service account"},
	{"AWS_SECRET_ACCESS_KEY", "", "its secret"},
	{"S3_ENDPOINT_URL", "https://storage.yandexcloud.net", "S3 endpoint"},
	{"S3_REGION", "ru-central1", "S3 region"},
	{"PUBLIC_URL", "", "https base URL of the webhooks (the API Gateway), serve/setup only"},
	{"TG_WEBHOOK_SECRET", "", "1-256 of A-Z a-z 0-9 _ -: Telegram sends it with every webhook"},
	{"TELEGRAM_API_URL", telegram.DefaultAPIURL, "Bot API server (or your own telegram-bot-api)"},
	{"REPLICATE_API_URL", replicate.DefaultAPIURL, "Replicate API base"},
	{"PORT", "8080", "HTTP port of photobot serve"},
	{"DATA_DIR", "./data", "local storage of photobot run when S3_BUCKET is unset"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
}

// readBy names the commands that read a variable, where not all do.
var readBy = map[string][]string{
	"S3_BUCKET":                {"run", "serve", "setup", "doctor"},
	"AWS_ACCESS_KEY_ID":        {"run", "serve", "setup", "doctor"},
	"AWS_SECRET_ACCESS_KEY":    {"run", "serve", "setup", "doctor"},
	"S3_ENDPOINT_URL":          {"run", "serve", "setup", "doctor"},
	"S3_REGION":                {"run", "serve", "setup", "doctor"},
	"PUBLIC_URL":               {"serve", "setup", "doctor"},
	"TG_WEBHOOK_SECRET":        {"serve", "setup", "doctor"},
	"REPLICATE_WEBHOOK_SECRET": {"serve", "doctor"},
	"PORT":                     {"serve"},
	"DATA_DIR":                 {"run", "doctor"},
}

// VarsFor lists the variables command reads.
func VarsFor(command string) []Var {
	var out []Var
	for _, v := range Vars {
		if cmds, ok := readBy[v.Name]; !ok || slices.Contains(cmds, command) {
			out = append(out, v)
		}
	}
	return out
}

// Required lists the variables mode cannot do without. The deploy test
// checks that Terraform gives each of them to the functions.
func Required(mode Mode) []string {
	_, err := Load(func(string) string { return "" }, mode)
	var e *Error
	if errors.As(err, &e) {
		return e.Missing()
	}
	return nil
}

func meaning(name string) string {
	for _, v := range Vars {
		if v.Name == name {
			return v.Meaning
		}
	}
	return "required"
}
