# The bucket Cloud Build reads function sources from. Each dist/<name>.zip (from `make package`,
# deterministic) is uploaded under a name carrying its MD5, so a code change is a new object name
# and therefore a redeploy, while an unchanged zip plans no change at all. Objects are only build
# inputs (Cloud Functions keeps its own copy), so old ones are deleted after 30 days; if the one in
# use is among them, the next apply just uploads it again without redeploying.

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_78:Objects are build inputs rebuilt from git under md5 names; old versions would only be kept garbage.
  # checkov:skip=CKV_GCP_62:Build inputs only; who read or wrote them is in the Cloud Audit Logs of the deploying identity.
  name                        = "${var.project_id}-gcf-source"
  location                    = coalesce(var.source_bucket_location, var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  name   = "${each.key}-${filemd5(each.value.zip)}.zip"
  bucket = google_storage_bucket.source.name
  source = each.value.zip

  lifecycle {
    precondition {
      condition     = fileexists(each.value.zip)
      error_message = "dist/${each.key}.zip is missing: run `make package` before planning."
    }
  }
}
