terraform {
  # 1.11+: write-only arguments and ephemeral resources keep the generated session key
  # out of the state file (see secrets.tf).
  required_version = ">= 1.11, < 2.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.23 added secret_data_wo; 7.x may carry breaking changes, so opt in explicitly.
      version = ">= 6.23, < 7.0"
    }
    random = {
      source = "hashicorp/random"
      # 3.7 added the ephemeral random_password.
      version = ">= 3.7, < 4.0"
    }
  }

  # State lives in a private, versioned bucket created once by hand (README "Deploy to Google Cloud"):
  #   terraform init -backend-config="bucket=<project-id>-tfstate"
  # The state holds resource names and the service configuration (never a secret value),
  # and CI must share it to deploy.
  backend "gcs" {
    prefix = "picbucket"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge({ app = "picbucket" }, var.labels)
}
