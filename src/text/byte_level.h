#pragma once
// GPT-2's byte-level alphabet (used by Llama-3, Qwen2, GPT-2 tokenizer.json files): each byte
// maps to a printable code point, so that BPE works on text made of "characters" and every byte
// string round-trips. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves;
// the other 68 bytes map in increasing order to U+0100, U+0101, ... (space -> 'Ġ' U+0120).
#include <cstdint>
#include <string>
#include <string_view>

namespace bitfold::text {

uint32_t byte_to_codepoint(uint8_t byte);
// The byte whose image is `cp`, or -1 when `cp` is not in the alphabet.
int codepoint_to_byte(uint32_t cp);
// UTF-8 text of the images of `bytes`.
std::string bytes_to_byte_level(std::string_view bytes);
// Inverse of bytes_to_byte_level for one token's valid UTF-8 `text`. A token with a code point
// outside the alphabet (an added token such as "<|im_start|>" spelled in plain text) is returned
// unchanged, as Hugging Face's ByteLevel decoder does.
std::string byte_level_to_bytes(std::string_view text);

}  // namespace bitfold::text
