use super::*;

#[test]
fn downloads_are_named_by_their_extension() {
    assert_eq!(
        download_name("/api/jobs/{{job_id}}/report.pdf", 0),
        "download pdf"
    );
    assert_eq!(
        download_name("/api/jobs/{{job_id}}/report.xlsx", 1),
        "download xlsx"
    );
    assert_eq!(download_name("/files/{{job_id}}", 1), "download report 2");
}
