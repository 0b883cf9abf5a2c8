"""LiDAR -> camera projection: hand-computed cases, and agreement with the nuScenes devkit."""
import numpy as np
import pytest

from s3pt_mm.depth import (lidar_to_camera, project_to_image, quaternion_to_matrix, sparse_depth_map,
                           transform_matrix)

K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 45.0], [0.0, 0.0, 1.0]])  # 160 x 90 image


def yaw(deg):
    half = np.radians(deg) / 2
    return [np.cos(half), 0.0, 0.0, np.sin(half)]


def test_quaternion_90_degree_yaw():
    np.testing.assert_allclose(quaternion_to_matrix(yaw(90)), [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
                               atol=1e-12)
    m = transform_matrix([1.0, 2.0, 3.0], yaw(90))
    np.testing.assert_allclose(m @ [1, 0, 0, 1], [1, 3, 3, 1], atol=1e-12)  # rotate, then translate
    np.testing.assert_allclose(transform_matrix([1.0, 2.0, 3.0], yaw(90), inverse=True) @ m, np.eye(4),
                               atol=1e-12)
    with pytest.raises(ValueError, match='quaternion'):
        quaternion_to_matrix([0, 0, 0, 0])


def test_known_point_projects_to_the_hand_computed_pixel():
    # camera frame: x right, y down, z forward. (2, -1, 10) m -> u = 100*2/10 + 80, v = 100*-1/10 + 45
    uv, depth, index = project_to_image(np.array([[2.0, -1.0, 10.0]]), K, (90, 160))
    np.testing.assert_allclose(uv, [[100.0, 35.0]])
    np.testing.assert_allclose(depth, [10.0])
    np.testing.assert_array_equal(index, [0])


def test_points_behind_near_or_outside_are_dropped():
    points = np.array([[0.0, 0.0, -5.0], [0.0, 0.0, 0.5], [100.0, 0.0, 10.0], [0.0, 0.0, 20.0]])
    uv, depth, index = project_to_image(points, K, (90, 160), min_depth=1.0)
    np.testing.assert_array_equal(index, [3])
    np.testing.assert_allclose(uv, [[80.0, 45.0]])


def test_chain_equals_the_product_done_by_hand():
    lidar_calib = dict(translation=[0.9, 0.0, 1.8], rotation=yaw(-90))
    lidar_pose = dict(translation=[100.0, 50.0, 0.0], rotation=yaw(30))
    cam_pose = dict(translation=[100.5, 50.2, 0.0], rotation=yaw(31))
    # camera looking along ego x: camera z = ego x, camera x = -ego y, camera y = -ego z
    r = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)  # camera -> ego, columns = camera axes
    w = np.sqrt((1 + np.trace(r)) / 4)  # matrix -> quaternion (w > 0 here)
    q = [w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)]
    cam_calib = dict(translation=[1.7, 0.0, 1.5], rotation=q)
    expected = (np.linalg.inv(transform_matrix(cam_calib['translation'], q)) @
                np.linalg.inv(transform_matrix(cam_pose['translation'], cam_pose['rotation'])) @
                transform_matrix(lidar_pose['translation'], lidar_pose['rotation']) @
                transform_matrix(lidar_calib['translation'], lidar_calib['rotation']))
    np.testing.assert_allclose(lidar_to_camera(lidar_calib, lidar_pose, cam_pose, cam_calib), expected,
                               atol=1e-9)
    # With identical poses, a point 10 m ahead of the ego (on the camera axis, at camera height)
    # has depth 10 - 1.7 m.
    same = dict(translation=[0.0, 0.0, 0.0], rotation=[1.0, 0, 0, 0])
    m = lidar_to_camera(dict(translation=[0, 0, 0], rotation=[1.0, 0, 0, 0]), same, same, cam_calib)
    np.testing.assert_allclose(m @ [10.0, 0.0, 1.5, 1.0], [0.0, 0.0, 8.3, 1.0], atol=1e-9)


def test_sparse_map_nearest_wins_and_nonfinite_are_counted():
    points = np.array([[0.0, 0.0, 20.0], [0.0, 0.0, 10.0], [0.01, 0.0, 30.0],  # same pixel (80, 45)
                       [np.nan, 0.0, 5.0], [0.0, np.inf, 5.0], [2.0, -1.0, 10.0]])
    result = sparse_depth_map(points, np.eye(4), K, (90, 160))
    assert result.depth.dtype == np.float32 and result.depth.shape == (90, 160)
    assert result.depth[45, 80] == 10.0
    assert result.depth[35, 100] == 10.0
    assert (result.depth > 0).sum() == 2
    assert result.num_nonfinite == 2 and result.num_projected == 4
    empty = sparse_depth_map(np.zeros((0, 4)), np.eye(4), K, (90, 160))
    assert not empty.depth.any() and empty.num_projected == 0
    with pytest.raises(ValueError, match='x, y, z'):
        sparse_depth_map(np.zeros((5, 2)), np.eye(4), K, (90, 160))


def test_agrees_with_the_devkit(synthetic_data_root):
    """Depths and pixels equal those of NuScenesExplorer.map_pointcloud_to_image on every camera."""
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.data_classes import LidarPointCloud

    nusc = NuScenes(version='v1.0-mini', dataroot=str(synthetic_data_root / 'nuscenes'), verbose=False)
    sample = nusc.sample[0]
    lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    points = LidarPointCloud.from_file(nusc.get_sample_data_path(lidar['token'])).points.T
    for channel in ('CAM_FRONT', 'CAM_BACK_LEFT'):
        cam = nusc.get('sample_data', sample['data'][channel])
        uv_ref, depth_ref, _ = nusc.explorer.map_pointcloud_to_image(lidar['token'], cam['token'],
                                                                     min_dist=1.0)
        matrix = lidar_to_camera(nusc.get('calibrated_sensor', lidar['calibrated_sensor_token']),
                                 nusc.get('ego_pose', lidar['ego_pose_token']),
                                 nusc.get('ego_pose', cam['ego_pose_token']),
                                 nusc.get('calibrated_sensor', cam['calibrated_sensor_token']))
        calib = nusc.get('calibrated_sensor', cam['calibrated_sensor_token'])
        points_cam = points[:, :3] @ matrix[:3, :3].T + matrix[:3, 3]
        uv, depth, _ = project_to_image(points_cam, np.array(calib['camera_intrinsic']),
                                        (cam['height'], cam['width']))
        # the devkit keeps points with 1 < u < W - 1 and 1 < v < H - 1
        inner = (uv[:, 0] > 1) & (uv[:, 0] < cam['width'] - 1) & (uv[:, 1] > 1) & \
            (uv[:, 1] < cam['height'] - 1)
        assert inner.sum() == len(depth_ref) > 50
        np.testing.assert_allclose(uv[inner], uv_ref[:2].T, atol=1e-3)
        np.testing.assert_allclose(depth[inner], depth_ref, atol=1e-4)
