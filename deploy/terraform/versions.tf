terraform {
  # 1.5 is the last MPL-licensed release line; anything newer works too.
  required_version = ">= 1.5.0"

  required_providers {
    yandex = {
      source = "yandex-cloud/yandex"
      # 0.145.0 added yandex_storage_bucket_iam_binding (a role on one bucket
      # instead of the whole folder).
      version = ">= 0.145.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5.0"
    }
  }
}

# Credentials come from the environment, the provider's standard way:
#   YC_TOKEN                     an OAuth or IAM token (e.g. $(yc iam create-token)), or
#   YC_SERVICE_ACCOUNT_KEY_FILE  an authorized key of a service account (JSON).
# Buckets are managed with the same IAM credentials; no static key is needed
# for Terraform itself.
provider "yandex" {
  folder_id = var.folder_id
  # null: the provider falls back to YC_CLOUD_ID (only some calls need it).
  cloud_id = var.cloud_id == "" ? null : var.cloud_id
  zone     = var.zone
}
