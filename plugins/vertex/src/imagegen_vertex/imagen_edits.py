"""Imagen's edit bodies: imagen-3.0-capability-001's reference images and edit modes, and Imagen 2's
(`imagegeneration@006`) `image`, `mask` and `editConfig`.

    capability: {"instances": [{"prompt"?, "referenceImages": [
                     {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1, "referenceImage": {…}},
                     {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2, "referenceImage"?: {…},
                      "maskImageConfig": {"maskMode", "dilation"?, "maskClasses"?}}]}],
                 "parameters": {"editMode", "sampleCount", "editConfig"?: {"baseSteps"}, …}}
    Imagen 2:   {"instances": [{"prompt"?, "image": {…}, "mask"?: {"image": {…}}}],
                 "parameters": {"sampleCount", "editConfig": {"editMode", "maskMode"?, "maskDilation"?}, …}}

The mode: `edit_mode` when given; otherwise an inpainting (insertion with a prompt, removal without) when
there is a mask or an automatic `mask_mode`, and on the capability model a mask-free edit
(EDIT_MODE_DEFAULT) when there is neither. Masks are converted to Imagen's white = edit.
"""

from __future__ import annotations

import base64
from typing import Any

from imagegen import masks
from imagegen.exceptions import BadRequestError
from imagegen.params import reject, reject_mask
from imagegen.provider import GenerationRequest
from imagegen_gemini.params import native_fields

from .imagen import common_parameters
from .models import EDIT_MODE_DEFAULT, INPAINT_INSERTION, INPAINT_REMOVAL, LEGACY_EDITORS, MASK_MODE_SEMANTIC

# Native parameters that shape the reference images or the edit config rather than `parameters`.
_EDIT_PARAMS = ("editMode", "maskMode", "maskClasses", "maskDilation", "baseSteps")


def edit_body(request: GenerationRequest) -> dict[str, Any]:
    """The `:predict` body of a checked edit."""
    specific = native_fields(request)
    edit = {name: specific.pop(name) for name in _EDIT_PARAMS if name in specific}
    if request.mask is not None and "maskMode" in edit:
        raise _bad_request(request, "pass either a mask or mask_mode (a mask Imagen computes), not both", "mask_mode")
    masked = request.mask is not None or "maskMode" in edit
    legacy = request.spec is not None and request.spec.name in LEGACY_EDITORS
    if legacy:
        mode = edit.get("editMode") or ("inpainting-insert" if request.prompt else "inpainting-remove")
        needs_mask = mode != "product-image"
    else:
        mode = edit.get("editMode") or (
            (INPAINT_INSERTION if request.prompt else INPAINT_REMOVAL) if masked else EDIT_MODE_DEFAULT
        )
        needs_mask = mode != EDIT_MODE_DEFAULT
        if not needs_mask:
            if request.mask is not None:
                reject_mask(request, f"{EDIT_MODE_DEFAULT} edits the whole image and takes no mask")
            if "maskMode" in edit:
                name = next(n for n in ("mask_mode", "maskMode") if n in request.params)
                reject(request, name, edit.pop("maskMode"), None, reason=f"{EDIT_MODE_DEFAULT} takes no mask_mode")
            masked = False
            if not request.prompt:
                raise _bad_request(request, "a mask-free edit needs a prompt describing the edited image", "prompt")
    if needs_mask and not masked:
        raise _bad_request(
            request,
            f"{mode} needs a mask (transparent where to edit) or mask_mode (a mask Imagen computes)",
            "mask",
        )
    _check_mask_classes(request, edit)
    if legacy:
        return _legacy_body(request, mode, edit, specific)
    return _capability_body(request, mode, edit, specific, masked)


def _capability_body(
    request: GenerationRequest, mode: str, edit: dict[str, Any], specific: dict[str, Any], masked: bool
) -> dict[str, Any]:
    references: list[dict[str, Any]] = [
        {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1, "referenceImage": _image(request.images[0].b64())}
    ]
    if masked:
        config: dict[str, Any] = {"maskMode": edit.get("maskMode", "MASK_MODE_USER_PROVIDED")}
        config.update(_renamed(edit, maskDilation="dilation", maskClasses="maskClasses"))
        mask: dict[str, Any] = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2}
        if request.mask is not None:  # else Imagen computes the mask from the image
            mask["referenceImage"] = _image(_white_edits_b64(request))
        references.append({**mask, "maskImageConfig": config})
    instance: dict[str, Any] = {"referenceImages": references}
    if request.prompt:
        instance["prompt"] = request.prompt
    parameters = common_parameters(request, {"editMode": mode, **specific})
    if "baseSteps" in edit:
        parameters["editConfig"] = {"baseSteps": edit["baseSteps"]}
    return {"instances": [instance], "parameters": parameters}


def _legacy_body(
    request: GenerationRequest, mode: str, edit: dict[str, Any], specific: dict[str, Any]
) -> dict[str, Any]:
    instance: dict[str, Any] = {"image": _image(request.images[0].b64())}
    if request.prompt:
        instance["prompt"] = request.prompt
    if request.mask is not None:
        instance["mask"] = {"image": _image(_white_edits_b64(request))}
    config: dict[str, Any] = {"editMode": mode}
    if "maskMode" in edit:  # Imagen 2 computes the mask: the background, the foreground or classes
        config["maskMode"] = {"maskType": edit["maskMode"], **_renamed(edit, maskClasses="classes")}
    config.update(_renamed(edit, maskDilation="maskDilation"))
    parameters = common_parameters(request, {**specific, "editConfig": config})
    return {"instances": [instance], "parameters": parameters}


def _check_mask_classes(request: GenerationRequest, edit: dict[str, Any]) -> None:
    """Class ids go with a semantic mask, which needs from one to five of them."""
    semantic = edit.get("maskMode") in (MASK_MODE_SEMANTIC, "semantic")
    classes = edit.get("maskClasses")
    if classes is None:
        if semantic:
            raise _bad_request(request, "a semantic mask_mode needs mask_classes: 1 to 5 class ids", "mask_classes")
        return
    if not semantic:
        name = next(n for n in ("mask_classes", "maskClasses") if n in request.params)
        reject(request, name, classes, None, reason="`mask_classes` only applies with a semantic mask_mode")
        edit.pop("maskClasses")
    elif not (isinstance(classes, list) and 1 <= len(classes) <= 5 and all(type(c) is int for c in classes)):
        raise _bad_request(request, "`mask_classes` must be a list of 1 to 5 integer class ids", "mask_classes")


def _renamed(edit: dict[str, Any], **names: str) -> dict[str, Any]:
    return {wire: edit[name] for name, wire in names.items() if name in edit}


def _image(b64: str) -> dict[str, str]:
    return {"bytesBase64Encoded": b64}


def _white_edits_b64(request: GenerationRequest) -> str:
    assert request.mask is not None
    return base64.b64encode(masks.white_edits(request.mask)).decode("ascii")


def _bad_request(request: GenerationRequest, message: str, param: str) -> BadRequestError:
    return request.refused(message, param=param)
