#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "test_support.h"

namespace bitfold {
namespace {

TEST(Tensor, ViewsAndSlicesShareStorage) {
  Tensor t = Tensor::from_floats({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor rows = t.slice_rows(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 2}));
  EXPECT_EQ(rows.f32()[0], 3.0f);
  rows.f32()[0] = 30.0f;
  EXPECT_EQ(t.f32()[2], 30.0f);
  EXPECT_EQ(t.view({6}).f32()[2], 30.0f);
  EXPECT_THROW(t.view({4}), Error);
  EXPECT_THROW(t.slice_rows(2, 4), Error);
}

TEST(Tensor, ConvertsDtypes) {
  Tensor t = Tensor::from_floats({1.5f, -2.25f, 65504.0f}, {3});
  Tensor h = t.to(DType::F16);
  EXPECT_EQ(h.nbytes(), 6u);
  Tensor back = h.to(DType::F32);
  EXPECT_EQ(back.f32()[1], -2.25f);
  EXPECT_EQ(back.f32()[2], 65504.0f);
  EXPECT_THROW(h.f32(), Error);
}

TEST(AtomicFile, LeavesNothingWhenNotCommitted) {
  const auto dir = testing::scratch_dir("atomic_file");
  {
    AtomicFile f(dir / "out.bin");
    f.write("abc", 3);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  write_file_atomically(dir / "out.bin", "hello");
  EXPECT_EQ(read_text_file(dir / "out.bin"), "hello");
  EXPECT_THROW(AtomicFile(dir / "missing" / "x"), Error);
}

TEST(AtomicDirectory, ReplacesOnlyOnCommit) {
  const auto dir = testing::scratch_dir("atomic_dir");
  {
    AtomicDirectory d(dir / "model");
    write_file_atomically(d.path() / "a.txt", "1");
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  AtomicDirectory d(dir / "model");
  write_file_atomically(d.path() / "a.txt", "2");
  d.commit();
  EXPECT_EQ(read_text_file(dir / "model" / "a.txt"), "2");
}

TEST(MappedFile, NamesTheFileInErrors) {
  try {
    MappedFile::open("/nonexistent/file.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.bin"), std::string::npos);
  }
}

}  // namespace
}  // namespace bitfold
