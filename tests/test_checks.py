import pytest
import torch

from inpaintlab._checks import as_size, check_image, check_mask, composite


def test_composite_keeps_known_pixels_bit_identical_even_with_nan_prediction():
    image = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 3:6] = 1
    pred = torch.full_like(image, float("nan"))
    pred[:, :, 2:5, 3:6] = 0.25
    out = composite(pred, image, mask)
    known = (mask == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert torch.all(out[~known] == 0.25)


def test_check_image_errors_name_the_problem_and_fix():
    with pytest.raises(ValueError, match=r"\(N,C,H,W\).*unsqueeze"):
        check_image(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        check_image(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"float\(\) / 255"):
        check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image([[0.0]])


def test_check_mask_shape_dtype_and_match():
    image = torch.rand(2, 3, 8, 8)
    assert check_mask(torch.zeros(2, 1, 8, 8), image).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\(N,1,H,W\)"):
        check_mask(torch.zeros(2, 3, 8, 8), image)
    with pytest.raises(ValueError, match="does not match image shape"):
        check_mask(torch.zeros(2, 1, 8, 9), image)
    with pytest.raises(ValueError, match="float"):
        check_mask(torch.zeros(2, 1, 8, 8, dtype=torch.bool), image)


def test_as_size():
    assert as_size(5) == (5, 5)
    assert as_size((3, 4)) == (3, 4)
    with pytest.raises(ValueError, match="positive"):
        as_size((0, 4))
    with pytest.raises(ValueError, match="pair"):
        as_size("abc")


def test_the_documented_examples_hold():
    import doctest

    import inpaintlab._checks

    result = doctest.testmod(inpaintlab._checks, extraglobs={"torch": torch})
    assert result.attempted >= 1 and result.failed == 0
