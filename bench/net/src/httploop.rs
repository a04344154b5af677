//! The hand-written HTTP/1.1 keep-alive loop shared by the bamboo and tokio
//! servers: parse every complete request in the buffer with `httparse`,
//! answer each with the same fixed response.

pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Answer the complete requests in `buf` into `out`; returns the bytes
/// consumed, or `None` on a malformed request.
pub fn answer(buf: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut start = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[start..]) {
            Ok(httparse::Status::Complete(used)) => {
                out.extend_from_slice(RESPONSE);
                start += used;
            }
            Ok(httparse::Status::Partial) => return Some(start),
            Err(_) => return None,
        }
    }
}
